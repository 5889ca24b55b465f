import SwiftCaffeCore
import SwiftCaffeSpec

/// The fraction of positions whose label is among the `top_k` highest scores along `axis`
/// (Caffe's `Accuracy`). Not a loss and has no gradient.
///
/// Ties rank the lower class index first, as an argmax does. Caffe counts a tie in the
/// label's favour, which scores an untrained net with all-equal outputs as 100 % accurate.
public final class AccuracyLayer: Layer, LabelConsumer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...2 }
    let topK: Int
    public let ignoreLabel: Int?
    let requestedAxis: Int
    private var outer = 0, inner = 0
    public private(set) var classCount = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        topK = try spec.int("top_k", default: 1, in: 1...Int(Int32.max))
        ignoreLabel = try spec.optionalInt("ignore_label")
        requestedAxis = try spec.int("axis", default: 1)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let axis = try canonicalAxis(requestedAxis, rank: bottom[0].shape.count, layer: self)
        outer = bottom[0].count(from: 0, to: axis)
        classCount = bottom[0].shape[axis]
        inner = bottom[0].count(from: axis + 1)
        guard topK <= classCount else {
            throw error("top_k is \(topK) but there are only \(classCount) classes")
        }
        guard bottom[1].count == outer * inner else {
            throw error("the scores '\(bottom[0].name)' (\(bottom[0].shapeDescription)) need \(outer * inner) labels, but '\(bottom[1].name)' holds \(bottom[1].count)")
        }
        try top[0].reshape([])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let scores = bottom[0].data, labels = bottom[1].data
        var correct = 0, counted = 0
        for o in 0..<outer {
            for i in 0..<inner {
                let label = Int(label: labels[o * inner + i])
                if label == ignoreLabel { continue }
                counted += 1
                guard label >= 0 && label < classCount else { continue }
                let truth = scores[(o * classCount + label) * inner + i]
                // A score that is not a number ranks nowhere: no comparison with it holds, so it
                // would otherwise count as a hit.
                guard !truth.isNaN else { continue }
                var higher = 0
                for c in 0..<classCount {
                    let score = scores[(o * classCount + c) * inner + i]
                    if score > truth || (score == truth && c < label) { higher += 1 }
                }
                if higher < topK { correct += 1 }
            }
        }
        top[0].data[0] = counted == 0 ? 0 : Float(correct) / Float(counted)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}

    /// Its outputs are indices or counts, constant between ties, and like backward it passes
    /// no derivative back: the tangents are zero.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        for tangent in topTangent { tangent.data.update(repeating: 0, count: tangent.count) }
    }
}

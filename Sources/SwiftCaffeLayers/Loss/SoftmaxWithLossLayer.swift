import Foundation
import SwiftCaffeCore
import SwiftCaffeSpec

/// Softmax followed by the multinomial logistic loss, fused for numerical stability (Caffe's
/// `SoftmaxWithLoss`). Bottoms: scores (classes along `axis`) and integer labels, one per
/// position. Tops: the loss and, optionally, the probabilities.
///
/// `normalization`: VALID (default) divides by the number of labels not equal to
/// `ignore_label`, BATCH_SIZE by the outer count, FULL by all positions, NONE not at all.
///
/// `label_smoothing: ε` (not in Caffe; PyTorch's `CrossEntropyLoss` has it) trains towards
/// q = (1 − ε)·onehot(label) + ε/K over the K classes instead of the one-hot label: the loss
/// is −Σ_c q_c·log p_c and its gradient p − q. A net then stops pushing the right class's
/// score without bound, which helps short training runs generalise (fashion_aug uses 0.1).
public final class SoftmaxWithLossLayer: Layer, LabelConsumer, TangentLayer {
    public enum Normalization: String, CaseIterable { case valid = "VALID", batchSize = "BATCH_SIZE", full = "FULL", none = "NONE" }

    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...2 }
    public static var topCount: ClosedRange<Int> { 1...2 }
    public static var isLoss: Bool { true }
    public let ignoreLabel: Int?
    let normalization: Normalization
    let requestedAxis: Int
    /// ε: the share of the target spread evenly over all classes.
    let labelSmoothing: Float
    private var outer = 0, inner = 0
    public private(set) var classCount = 0
    private var probabilities = Blob()
    private var normalizer: Float = 1

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        ignoreLabel = try spec.optionalInt("ignore_label")
        normalization = Normalization(rawValue: try spec.choice("normalization", from: Normalization.allCases.map(\.rawValue), default: "VALID"))!
        requestedAxis = try spec.int("axis", default: 1)
        labelSmoothing = try spec.float("label_smoothing", default: 0, in: 0...0.999)
    }

    /// The target's weight on class c for a sample labelled `label`: q_c = (1 − ε)·[c = label] + ε/K.
    @inline(__always)
    private func target(_ c: Int, label: Int) -> Float {
        (c == label ? 1 - labelSmoothing : 0) + labelSmoothing / Float(classCount)
    }

    public var forwardFLOPs: Int { 4 * outer * classCount * inner }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let axis = try canonicalAxis(requestedAxis, rank: bottom[0].shape.count, layer: self)
        outer = bottom[0].count(from: 0, to: axis)
        classCount = bottom[0].shape[axis]
        inner = bottom[0].count(from: axis + 1)
        guard bottom[1].count == outer * inner else {
            throw error("the scores '\(bottom[0].name)' (\(bottom[0].shapeDescription)) need \(outer * inner) labels, but '\(bottom[1].name)' holds \(bottom[1].count)",
                        hint: "the label blob must have one label per sample (and per position)")
        }
        try probabilities.reshape(bottom[0].shape)
        try top[0].reshape([])
        if top.count == 2 { try top[1].reshape(bottom[0].shape) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let p = probabilities.data, labels = bottom[1].data
        softmax(bottom[0].data, p, outer: outer, channels: classCount, inner: inner)
        var loss: Float = 0
        var valid = 0
        for o in 0..<outer {
            for i in 0..<inner {
                let label = Int(label: labels[o * inner + i])
                if label == ignoreLabel { continue }
                let k = min(max(label, 0), classCount - 1)  // range checked by the net at build time
                if labelSmoothing == 0 {
                    loss -= logf(max(p[(o * classCount + k) * inner + i], Float.leastNormalMagnitude))
                } else {
                    for c in 0..<classCount { loss -= target(c, label: k) * logf(max(p[(o * classCount + c) * inner + i], Float.leastNormalMagnitude)) }
                }
                valid += 1
            }
        }
        normalizer = switch normalization {
        case .valid: Float(max(valid, 1))
        case .batchSize: Float(outer)
        case .full: Float(outer * inner)
        case .none: 1
        }
        top[0].data[0] = loss / normalizer
        if top.count == 2 { top[1].data.update(from: p, count: probabilities.count) }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let dx = bottom[0].diff, p = probabilities.data, labels = bottom[1].data
        let scale = top[0].diff[0] / normalizer
        for o in 0..<outer {
            for i in 0..<inner {
                let label = Int(label: labels[o * inner + i])
                let ignored = label == ignoreLabel
                for c in 0..<classCount {
                    let k = (o * classCount + c) * inner + i
                    dx[k] = ignored ? 0 : (p[k] - target(c, label: label)) * scale
                }
            }
        }
    }

    /// L̇ = −Σ (Σ_c q_c·ẋ_c − Σ_c p_c·ẋ_c) / normaliser over the counted positions (Σ_c q_c = 1;
    /// without smoothing Σ_c q_c·ẋ_c is ẋ_label); the
    /// probabilities' tangent, if they are a top, is softmax's: ṗ = p ⊙ (ẋ − Σ_c p_c·ẋ_c).
    /// (Backward, like Caffe's, sends no gradient back from the probabilities top.)
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let p = probabilities.data, labels = bottom[1].data, dx = bottomTangent[0].data
        let dp = topTangent.count == 2 ? topTangent[1].data : nil
        var loss: Float = 0
        for o in 0..<outer {
            for i in 0..<inner {
                var mean: Float = 0
                for c in 0..<classCount { mean += p[(o * classCount + c) * inner + i] * dx[(o * classCount + c) * inner + i] }
                if let dp { for c in 0..<classCount { let k = (o * classCount + c) * inner + i; dp[k] = p[k] * (dx[k] - mean) } }
                let label = Int(label: labels[o * inner + i])
                guard label != ignoreLabel, (0..<classCount).contains(label) else { continue }
                var expected: Float = 0
                for c in 0..<classCount { expected += target(c, label: label) * dx[(o * classCount + c) * inner + i] }
                loss -= expected - mean
            }
        }
        topTangent[0].data[0] = loss / normalizer
    }
}

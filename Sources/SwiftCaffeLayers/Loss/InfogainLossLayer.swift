import Foundation
import SwiftCaffeCore
import SwiftCaffeSpec

/// Caffe's `InfogainLoss`: loss = −Σₙ Σₖ H[labelₙ, k]·log pₙₖ / N, a multinomial logistic loss
/// weighted by an infogain matrix H (the identity gives the plain log loss). Bottoms: the
/// probabilities N×C (a Softmax's output), the labels N, and optionally H as a third bottom;
/// otherwise H is written in the layer as `infogain_matrix: [[...], ...]` (C rows of C).
public final class InfogainLossLayer: Layer, LabelConsumer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...3 }
    public static var isLoss: Bool { true }
    public var ignoreLabel: Int? { nil }
    public private(set) var classCount = 0
    let writtenMatrix: [[Float]]
    private var batch = 0
    static let minimumProbability: Float = 1e-20

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        writtenMatrix = try spec.list("infogain_matrix").map { row in
            guard let items = row.sequence else { throw spec.error("'infogain_matrix' rows must be lists of numbers", at: row) }
            return try items.map { try SpecMapping.float($0, key: "infogain_matrix", in: nil, owner: spec) }
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        batch = bottom[0].shape.first ?? 1
        classCount = bottom[0].count / max(batch, 1)
        guard bottom[1].count == batch else { throw error("\(batch) probability rows but \(bottom[1].count) labels") }
        if bottom.count == 3 {
            guard bottom[2].count == classCount * classCount else {
                throw error("the infogain bottom '\(bottom[2].name)' holds \(bottom[2].count) values, not \(classCount)×\(classCount)")
            }
        } else {
            guard writtenMatrix.count == classCount, writtenMatrix.allSatisfy({ $0.count == classCount }) else {
                throw error("needs a \(classCount)×\(classCount) infogain matrix", hint: "add 'infogain_matrix: [[...], ...]' or a third bottom")
            }
        }
        try top[0].reshape([])
    }

    private func h(_ bottom: [Blob], _ row: Int, _ column: Int) -> Float {
        bottom.count == 3 ? bottom[2].data[row * classCount + column] : writtenMatrix[row][column]
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let p = bottom[0].data
        var loss: Float = 0
        for n in 0..<batch {
            let label = min(max(Int(label: bottom[1].data[n]), 0), classCount - 1)
            for k in 0..<classCount { loss -= h(bottom, label, k) * logf(max(p[n * classCount + k], Self.minimumProbability)) }
        }
        top[0].data[0] = loss / Float(batch)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let p = bottom[0].data, dp = bottom[0].diff, scale = top[0].diff[0] / Float(batch)
        for n in 0..<batch {
            let label = min(max(Int(label: bottom[1].data[n]), 0), classCount - 1)
            for k in 0..<classCount {
                let i = n * classCount + k
                dp[i] = -scale * h(bottom, label, k) / max(p[i], Self.minimumProbability)
            }
        }
    }

    /// L̇ = −Σ H[label, k]·ṗ_k / max(p_k, ε) / N; the matrix, as a bottom, is held fixed
    /// (backward sends it no gradient).
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let p = bottom[0].data, dp = bottomTangent[0].data
        var sum: Float = 0
        for n in 0..<batch {
            let label = min(max(Int(label: bottom[1].data[n]), 0), classCount - 1)
            for k in 0..<classCount {
                let i = n * classCount + k
                sum -= h(bottom, label, k) * dp[i] / max(p[i], Self.minimumProbability)
            }
        }
        topTangent[0].data[0] = sum / Float(batch)
    }
}

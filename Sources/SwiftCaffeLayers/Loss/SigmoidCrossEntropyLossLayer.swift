import Foundation
import SwiftCaffeCore
import SwiftCaffeSpec

/// Cross-entropy of independent sigmoids (Caffe's `SigmoidCrossEntropyLoss`): bottoms are
/// scores x and targets t in [0, 1] of the same count;
/// loss = −Σ [t·log σ(x) + (1−t)·log(1−σ(x))] / normaliser, computed as
/// max(x, 0) − x·t + log(1 + e^−|x|) so large scores cannot overflow. `normalization` VALID
/// (default: targets not equal to `ignore_label`), BATCH_SIZE, FULL or NONE.
public final class SigmoidCrossEntropyLossLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...2 }
    public static var isLoss: Bool { true }
    let ignoreLabel: Int?
    let normalization: SoftmaxWithLossLayer.Normalization
    private var normaliser: Float = 1

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        ignoreLabel = try spec.optionalInt("ignore_label")
        normalization = .init(rawValue: try spec.choice("normalization", from: SoftmaxWithLossLayer.Normalization.allCases.map(\.rawValue), default: "VALID"))!
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom[0].count == bottom[1].count else {
            throw error("'\(bottom[0].name)' (\(bottom[0].shapeDescription)) and its targets '\(bottom[1].name)' (\(bottom[1].shapeDescription)) differ in size")
        }
        try top[0].reshape([])
    }

    private func ignored(_ t: Float) -> Bool { ignoreLabel.map { Float($0) == t } ?? false }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, t = bottom[1].data
        var loss: Double = 0
        var valid = 0
        for i in 0..<bottom[0].count where !ignored(t[i]) {
            loss += Double(max(x[i], 0) - x[i] * t[i] + log1pf(expf(-abs(x[i]))))
            valid += 1
        }
        normaliser = switch normalization {
        case .valid: Float(max(valid, 1))
        case .batchSize: Float(bottom[0].shape.first ?? 1)
        case .full: Float(bottom[0].count)
        case .none: 1
        }
        top[0].data[0] = Float(loss) / normaliser
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let x = bottom[0].data, t = bottom[1].data, dx = bottom[0].diff
        let scale = top[0].diff[0] / normaliser
        for i in 0..<bottom[0].count { dx[i] = ignored(t[i]) ? 0 : (1 / (1 + expf(-x[i])) - t[i]) * scale }
    }

    /// L̇ = Σ (σ(x) − t)·ẋ / normaliser over the counted targets. The targets are held fixed,
    /// as backward holds them (it sends them no gradient, as in Caffe).
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let x = bottom[0].data, t = bottom[1].data, dx = bottomTangent[0].data
        var sum: Float = 0
        for i in 0..<bottom[0].count where !ignored(t[i]) { sum += (1 / (1 + expf(-x[i])) - t[i]) * dx[i] }
        topTangent[0].data[0] = sum / normaliser
    }
}

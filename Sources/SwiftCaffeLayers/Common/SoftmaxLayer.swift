import SwiftCaffeCore
import SwiftCaffeSpec

/// Softmax along `axis` (default 1, the channels).
public final class SoftmaxLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var supportsInPlace: Bool { true }
    public static var backwardReadsTop: Bool { true }
    let requestedAxis: Int
    private var outer = 0, channels = 0, inner = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedAxis = try spec.int("axis", default: 1)
    }

    public var forwardFLOPs: Int { 4 * outer * channels * inner }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let axis = try canonicalAxis(requestedAxis, rank: bottom[0].shape.count, layer: self)
        outer = bottom[0].count(from: 0, to: axis)
        channels = bottom[0].shape[axis]
        inner = bottom[0].count(from: axis + 1)
        try top[0].reshape(bottom[0].shape)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        softmax(bottom[0].data, top[0].data, outer: outer, channels: channels, inner: inner)
    }

    /// dx = y ⊙ (dy − Σ_c dy·y), per position.
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        applyJacobian(top[0].data, top[0].diff, into: bottom[0].diff)
    }

    /// ẏ = y ⊙ (ẋ − Σ_c y·ẋ): the Jacobian is symmetric, so backward's formula.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        applyJacobian(top[0].data, bottomTangent[0].data, into: topTangent[0].data)
    }

    /// target = y ⊙ (source − Σ_c source·y) per position; in place if they are one buffer.
    private func applyJacobian(_ y: UnsafeMutablePointer<Float>, _ source: UnsafeMutablePointer<Float>, into target: UnsafeMutablePointer<Float>) {
        for o in 0..<outer {
            let base = o * channels * inner
            for i in 0..<inner {
                var dot: Float = 0
                for c in 0..<channels { dot += source[base + c * inner + i] * y[base + c * inner + i] }
                for c in 0..<channels {
                    let k = base + c * inner + i
                    target[k] = y[k] * (source[k] - dot)
                }
            }
        }
    }
}

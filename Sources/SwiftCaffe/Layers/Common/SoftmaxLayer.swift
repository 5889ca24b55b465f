/// Softmax along `axis` (default 1, the channels).
public final class SoftmaxLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var supportsInPlace: Bool { true }
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

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        softmax(bottom[0].data, top[0].data, outer: outer, channels: channels, inner: inner)
        return 0
    }

    /// dx = y ⊙ (dy − Σ_c dy·y), per position.
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff
        for o in 0..<outer {
            let base = o * channels * inner
            for i in 0..<inner {
                var dot: Float = 0
                for c in 0..<channels { dot += dy[base + c * inner + i] * y[base + c * inner + i] }
                for c in 0..<channels {
                    let k = base + c * inner + i
                    dx[k] = y[k] * (dy[k] - dot)
                }
            }
        }
    }

    /// ẏ = y ⊙ (ẋ − Σ_c y·ẋ), per position (the Jacobian is symmetric: backward's formula).
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let y = top[0].data, dx = bottomTangent[0].data, dy = topTangent[0].data
        for o in 0..<outer {
            let base = o * channels * inner
            for i in 0..<inner {
                var dot: Float = 0
                for c in 0..<channels { dot += dx[base + c * inner + i] * y[base + c * inner + i] }
                for c in 0..<channels {
                    let k = base + c * inner + i
                    dy[k] = y[k] * (dx[k] - dot)
                }
            }
        }
    }
}

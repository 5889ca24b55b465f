import Foundation

/// 1 / (1 + e^-x). Backward uses the top only (y·(1−y)), so it works in place.
public final class SigmoidLayer: Layer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var supportsInPlace: Bool { true }

    public init(spec: LayerSpec, context: LayerContext) throws { self.spec = spec }

    private var count = 0
    public var forwardFLOPs: Int { 4 * count }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        top[0].reshape(bottom[0].shape)
        count = bottom[0].count
    }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        let x = bottom[0].data, y = top[0].data
        for i in 0..<bottom[0].count { y[i] = 1 / (1 + expf(-x[i])) }
        return 0
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff
        for i in 0..<top[0].count { dx[i] = dy[i] * y[i] * (1 - y[i]) }
    }
}

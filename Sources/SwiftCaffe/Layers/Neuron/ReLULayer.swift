/// max(x, 0), or x·negative_slope for x ≤ 0 (leaky ReLU). Works in place: backward only needs
/// the sign, which the top keeps for any slope ≥ 0.
public final class ReLULayer: Layer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var supportsInPlace: Bool { true }
    let negativeSlope: Float

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        negativeSlope = try spec.float("negative_slope", default: 0, in: 0...Float.greatestFiniteMagnitude)
    }

    private var count = 0
    public var forwardFLOPs: Int { 1 * count }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        top[0].reshape(bottom[0].shape)
        count = bottom[0].count
    }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        let x = bottom[0].data, y = top[0].data, slope = negativeSlope
        for i in 0..<bottom[0].count { y[i] = x[i] > 0 ? x[i] : x[i] * slope }
        return 0
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff, slope = negativeSlope
        for i in 0..<top[0].count { dx[i] = y[i] > 0 ? dy[i] : dy[i] * slope }
    }
}

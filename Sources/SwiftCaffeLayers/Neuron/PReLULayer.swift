import SwiftCaffeCore
import SwiftCaffeSpec

/// PReLU: max(x, 0) + a·min(x, 0) with a learned slope a per channel (axis 1), or one for the
/// whole blob with `channel_shared: true`; a is filled by `filler` (constant 0.25).
public final class PReLULayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let channelShared: Bool
    let filler: FillerSpec
    let context: LayerContext
    private var channels = 1, inner = 1

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        channelShared = try spec.bool("channel_shared", default: false)
        filler = try spec.filler("filler", default: FillerSpec(.constant, value: 0.25))
    }

    public var forwardFLOPs: Int { channels * inner }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0]
        guard channelShared || x.shape.count >= 2 else {
            throw error("needs an N×C×... bottom for per-channel slopes, but '\(x.name)' is \(x.shapeDescription)", hint: "set channel_shared: true")
        }
        channels = channelShared ? 1 : x.shape[1]
        inner = channelShared ? 1 : x.count(from: 2)
        params = [try context.parameter(name, "slope", shape: [channels], filler: filler)]
        try top[0].reshape(x.shape)
    }

    @inline(__always) private func channel(_ i: Int) -> Int { channelShared ? 0 : (i / inner) % channels }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, a = params[0].data
        for i in 0..<bottom[0].count { y[i] = x[i] > 0 ? x[i] : a[channel(i)] * x[i] }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let x = bottom[0].data, dy = top[0].diff, a = params[0].data, da = params[0].diff
        let dx = bottom[0].needsGradient ? bottom[0].diff : nil
        for i in 0..<bottom[0].count {
            let c = channel(i)
            if x[i] <= 0 { da[c] += dy[i] * x[i] }
            dx?[i] = x[i] > 0 ? dy[i] : a[c] * dy[i]
        }
    }

    /// ẏ = ẋ above 0, a·ẋ + ȧ·x below.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let x = bottom[0].data, dx = bottomTangent[0].data, dy = topTangent[0].data, a = params[0].data, da = parameterTangent?[0].data
        for i in 0..<bottom[0].count {
            let c = channel(i)
            dy[i] = x[i] > 0 ? dx[i] : a[c] * dx[i] + (da?[c] ?? 0) * x[i]
        }
    }
}

import Foundation

/// Local response normalisation (Caffe's `LRN`): y = x · s^−β with
/// s = k + (α/n)·Σ x² over a window of n = `local_size` (5) neighbours: across channels
/// (`norm_region: ACROSS_CHANNELS`, default) or over an n×n patch of the same channel
/// (`WITHIN_CHANNEL`, where the sum is divided by n² and zero padding is implied).
/// Keys `alpha` (1), `beta` (0.75), `k` (1).
public final class LRNLayer: Layer, TangentLayer {
    public enum Region: String, CaseIterable { case across = "ACROSS_CHANNELS", within = "WITHIN_CHANNEL" }

    public let spec: LayerSpec
    public var params: [Blob] = []
    let size: Int
    let alpha, beta, k: Float
    let region: Region
    private var shape: [Int] = []
    private var scale = Blob()
    /// Backward scratch: dy·y/s per element, and its sum over the windows holding each element.
    private var ratio = Blob(), accumulated = Blob()

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        size = try spec.int("local_size", default: 5, in: 1...Int(Int32.max))
        if size % 2 == 0 { throw spec.error("'local_size' must be odd, found \(size)", at: spec.node("local_size")) }
        alpha = try spec.float("alpha", default: 1)
        beta = try spec.float("beta", default: 0.75)
        k = try spec.float("k", default: 1)
        region = Region(rawValue: try spec.choice("norm_region", from: Region.allCases.map(\.rawValue), default: "ACROSS_CHANNELS"))!
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom[0].shape.count == 4 else { throw error("expects an N×C×H×W bottom, but '\(bottom[0].name)' is \(bottom[0].shapeDescription)") }
        shape = bottom[0].shape
        try scale.reshape(shape)
        try ratio.reshape(shape)
        try accumulated.reshape(shape)
        try top[0].reshape(shape)
    }

    /// Calls `body(i, j)` for every pair where element j lies in element i's window.
    private func forEachNeighbour(_ body: (Int, Int) -> Void) {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let half = size / 2
        for image in 0..<n {
            for channel in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let i = ((image * c + channel) * h + y) * w + x
                        switch region {
                        case .across:
                            for other in max(0, channel - half)...min(c - 1, channel + half) {
                                body(i, ((image * c + other) * h + y) * w + x)
                            }
                        case .within:
                            for yy in max(0, y - half)...min(h - 1, y + half) {
                                for xx in max(0, x - half)...min(w - 1, x + half) { body(i, ((image * c + channel) * h + yy) * w + xx) }
                            }
                        }
                    }
                }
            }
        }
    }

    private var divisor: Float { Float(region == .across ? size : size * size) }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        let x = bottom[0].data, y = top[0].data, s = scale.data, count = bottom[0].count
        for i in 0..<count { s[i] = 0 }
        forEachNeighbour { i, j in s[i] += x[j] * x[j] }
        let factor = alpha / divisor
        for i in 0..<count {
            s[i] = k + factor * s[i]
            y[i] = x[i] * powf(s[i], -beta)
        }
        return 0
    }

    /// dx_j = dy_j·s_j^−β − (2αβ/n)·x_j·Σ_{i: j in window(i)} dy_i·y_i / s_i.
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let x = bottom[0].data, y = top[0].data, dy = top[0].diff, dx = bottom[0].diff, s = scale.data
        let count = bottom[0].count
        let ratio = ratio.data, accumulated = accumulated.data
        for i in 0..<count {
            ratio[i] = dy[i] * y[i] / s[i]
            accumulated[i] = 0
        }
        forEachNeighbour { i, j in accumulated[j] += ratio[i] }
        let factor = 2 * alpha * beta / divisor
        for j in 0..<count { dx[j] = dy[j] * powf(s[j], -beta) - factor * x[j] * accumulated[j] }
    }

    /// ẏ_i = ẋ_i·s_i^−β − (2αβ/n)·(y_i / s_i)·Σ_{j in window(i)} x_j·ẋ_j.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let x = bottom[0].data, y = top[0].data, dx = bottomTangent[0].data, dy = topTangent[0].data, s = scale.data
        let count = bottom[0].count, accumulated = accumulated.data
        for i in 0..<count { accumulated[i] = 0 }
        forEachNeighbour { i, j in accumulated[i] += x[j] * dx[j] }
        let factor = 2 * alpha * beta / divisor
        for i in 0..<count { dy[i] = dx[i] * powf(s[i], -beta) - factor * y[i] / s[i] * accumulated[i] }
    }
}

import CMachine
import Foundation
import SwiftCaffeCore
import SwiftCaffeSpec

/// Local response normalisation (Caffe's `LRN`): y = x · s^−β with
/// s = k + (α/n)·Σ x² over a window of n = `local_size` (5) neighbours: across channels
/// (`norm_region: ACROSS_CHANNELS`, default) or over an n×n patch of the same channel
/// (`WITHIN_CHANNEL`, where the sum is divided by n² and zero padding is implied).
/// Keys `alpha` (1), `beta` (0.75), `k` (1). Within a channel the shift is always 1 and `k` is
/// ignored, as in Caffe (which builds that mode from a Power layer with shift 1), so a Caffe
/// net that states `k` there computes what it computes in Caffe.
public final class LRNLayer: Layer, TangentLayer, ChannelsLastCapable {
    public enum Region: String, CaseIterable { case across = "ACROSS_CHANNELS", within = "WITHIN_CHANNEL" }

    public let spec: LayerSpec
    public var params: [Blob] = []
    let size: Int
    let alpha, beta, k: Float
    let region: Region
    private var shape: [Int] = []
    /// Deferred, like the two below: they take memory when first used, which a channels-last
    /// forward (an inference net's) never does.
    private var scale = Blob(deferred: "")
    /// Per-element terms and their window sums: x² in forward, dy·y/s in backward, x·ẋ in
    /// forward mode.
    private var ratio = Blob(deferred: ""), accumulated = Blob(deferred: "")  // only backward and forward mode use `accumulated`

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        size = try spec.int("local_size", default: 5, in: 1...Int(Int32.max))
        if size % 2 == 0 { throw spec.error("'local_size' must be odd, found \(size)", at: spec.node("local_size")) }
        alpha = try spec.float("alpha", default: 1)
        beta = try spec.float("beta", default: 0.75)
        region = Region(rawValue: try spec.choice("norm_region", from: Region.allCases.map(\.rawValue), default: "ACROSS_CHANNELS"))!
        let shift = try spec.float("k", default: 1)
        k = region == .within ? 1 : shift
    }

    /// Per element: its square, the window's sum (one add and one subtract as the window
    /// slides, or local_size² adds within a channel), scale = k + alpha/n · sum, the power
    /// (counted as 2, as exp and log) and the product. The count `summary` and `time` use.
    public var forwardFLOPs: Int {
        let elements = shape.reduce(1, *)
        let window = region == .across ? 2 : size * size
        return shape.isEmpty ? 0 : elements * (1 + window + 2 + 2 + 1)
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

    /// target_i = Σ source_j over j in element i's window. Across channels (the common
    /// case: AlexNet, GoogLeNet) the window slides along the channels of each position, one
    /// addition and one subtraction per step as in Caffe, vectorised over positions and split
    /// across threads by image and by blocks of positions (so a batch of one is split too).
    private func windowSums(of source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>) {
        guard region == .across else {
            for i in 0..<shape.reduce(1, *) { target[i] = 0 }
            forEachNeighbour { i, j in target[i] += source[j] }
            return
        }
        let (images, channels, plane) = (shape[0], shape[1], shape[2] * shape[3]), half = size / 2
        guard images > 0, channels > 0, plane > 0 else { return }
        let blocks = max(1, min(Parallel.threads, plane / 64))
        Parallel.forChunks(of: images * blocks) { _, items in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: plane / blocks + 1) { running in
                let sum = running.baseAddress!
                for item in items {
                    let image = item / blocks, block = item % blocks
                    let first = block * plane / blocks, count = (block + 1) * plane / blocks - first
                    let base = image * channels * plane + first
                    sum.update(repeating: 0, count: count)
                    for channel in 0...min(half, channels - 1) {
                        let values = source + base + channel * plane
                        for p in 0..<count { sum[p] += values[p] }
                    }
                    for channel in 0..<channels {
                        let out = target + base + channel * plane
                        for p in 0..<count { out[p] = sum[p] }
                        if channel + half + 1 < channels {
                            let entering = source + base + (channel + half + 1) * plane
                            for p in 0..<count { sum[p] += entering[p] }
                        }
                        if channel - half >= 0 {
                            let leaving = source + base + (channel - half) * plane
                            for p in 0..<count { sum[p] -= leaving[p] }
                        }
                    }
                }
            }
        }
    }

    /// s^−β; for Caffe's usual β = 0.75 as 1/(√s·√√s), which vectorises where powf does not.
    @inline(__always)
    private func inversePower(_ s: Float) -> Float {
        beta == 0.75 ? 1 / (s.squareRoot() * s.squareRoot().squareRoot()) : powf(s, -beta)
    }

    /// Runs `body` on contiguous ranges of the blob's elements, across threads.
    private func forEachRange(_ count: Int, _ body: (Range<Int>) -> Void) {
        Parallel.forChunks(of: count, minimumPerChunk: 4096) { _, range in body(range) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        if channelsLast {
            forwardChannelsLast(bottom[0].data, top[0].data)
            return
        }
        let x = bottom[0].data, y = top[0].data, s = scale.data, squares = ratio.data, count = bottom[0].count
        forEachRange(count) { range in for i in range { squares[i] = x[i] * x[i] } }
        windowSums(of: squares, into: s)
        let factor = alpha / divisor, k = k
        forEachRange(count) { range in
            for i in range {
                // A sliding sum can round a little below zero where values cancel.
                s[i] = k + factor * max(s[i], 0)
                y[i] = x[i] * inversePower(s[i])
            }
        }
    }

    /// dx_j = dy_j·s_j^−β − (2αβ/n)·x_j·Σ_{i: j in window(i)} dy_i·y_i / s_i (the windows are
    /// symmetric, so that sum is the window sum of dy·y/s).
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let x = bottom[0].data, y = top[0].data, dy = top[0].diff, dx = bottom[0].diff, s = scale.data
        let count = bottom[0].count
        let ratio = ratio.data, accumulated = accumulated.data
        forEachRange(count) { range in for i in range { ratio[i] = dy[i] * y[i] / s[i] } }
        windowSums(of: ratio, into: accumulated)
        let factor = 2 * alpha * beta / divisor
        forEachRange(count) { range in
            for j in range { dx[j] = dy[j] * inversePower(s[j]) - factor * x[j] * accumulated[j] }
        }
    }

    /// ẏ_i = ẋ_i·s_i^−β − (2αβ/n)·(y_i / s_i)·Σ_{j in window(i)} x_j·ẋ_j.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let x = bottom[0].data, y = top[0].data, dx = bottomTangent[0].data, dy = topTangent[0].data, s = scale.data
        let count = bottom[0].count, products = ratio.data, accumulated = accumulated.data
        forEachRange(count) { range in for i in range { products[i] = x[i] * dx[i] } }
        windowSums(of: products, into: accumulated)
        let factor = 2 * alpha * beta / divisor
        forEachRange(count) { range in
            for i in range { dy[i] = dx[i] * inversePower(s[i]) - factor * y[i] / s[i] * accumulated[i] }
        }
    }

    // MARK: Channels last

    /// Whether the blobs are laid out N×H×W×C (`ChannelsLastLayout`, inference only: forward
    /// then keeps no scale for backward).
    private(set) var channelsLast = false
    package var canUseChannelsLast: Bool { region == .across }
    package func useChannelsLast(bottom: Bool, top: Bool) { channelsLast = bottom }

    /// Forward over N×H×W×C blobs, one position at a time (`swiftcaffe_lrn_channels_last`):
    /// the position's channels are side by side, so its squares, their window sums and the
    /// outputs are short vector loops in L1, in one pass over memory. Each window is summed
    /// directly, in channel order, where the planar path slides one sum along the channels; the
    /// two round differently (by about 1e-7 of the value), and this one cannot drift below zero.
    private func forwardChannelsLast(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        // A window reaching past every channel sums them all: no need to walk its zeros
        // (`local_size` may be up to 2³¹ − 1).
        let channels = shape[1], positions = shape[0] * shape[2] * shape[3]
        guard channels > 0, positions > 0 else { return }
        let size = 2 * min(size / 2, channels - 1) + 1, factor = alpha / divisor, k = k, beta = beta
        Parallel.forChunks(of: positions, minimumPerChunk: 16) { _, range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * channels + size - 1) { scratch in
                swiftcaffe_lrn_channels_last(x + range.lowerBound * channels, y + range.lowerBound * channels, range.count, channels,
                                             size, k, factor, beta, scratch.baseAddress!)
            }
        }
    }
}

import Foundation
import SwiftCaffeCore
import SwiftCaffeSpec

/// Batch normalisation without the affine part (follow it with `Scale` and `bias_term: true`),
/// Caffe's `BatchNorm`. For each channel of an N×C×... bottom: y = (x − μ) / √(σ² + eps).
///
/// With `use_global_stats: false` (the default in the train phase) μ and σ² are the batch's,
/// and running sums are kept in three parameter blobs (mean, variance, normaliser):
/// s ← f·s + 1, m ← f·m + μ, v ← f·v + σ²·n/(n−1), f = `moving_average_fraction`. With
/// `use_global_stats: true` (the default in the test phase) μ = m/s and σ² = v/s. The blobs
/// are saved with the weights and shared with the test net, but never touched by the solver.
public final class BatchNormLayer: Layer, TangentLayer, ReLUFusing {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var supportsInPlace: Bool { true }
    let useGlobalStats: Bool
    let movingAverageFraction: Float
    let eps: Float
    private var channels = 0, outer = 0, inner = 0
    /// The normalised values and 1/√(σ²+eps) per channel of the last forward, for backward.
    /// With global statistics the Jacobian is a per-channel constant and needs no x̂, so a
    /// test net neither stores it nor writes it (`normalized` is deferred: it takes memory at
    /// the first forward that writes it).
    private var normalized = Blob(deferred: ""), inverseDeviation = Blob()
    /// What the net folded in (the net's `InPlaceFolding` pass): the Scale after it and a ReLU after
    /// that, applied in the same pass, in the same order of operations as the layers would. In
    /// a training net, backward then also does their backward and adds the Scale's gradients.
    private var fusedScale: (factors: Blob, shifts: Blob?)?
    private var fusedReLU: ReLUFunction?

    /// Folds the in-place Scale that follows, if it scales this layer's channels by its own
    /// parameters; returns whether it did. In a net that trains only batch statistics fold:
    /// backward through a Scale needs x̂, which global statistics do not keep.
    package func fuse(_ scale: ScaleLayer, training: Bool) -> Bool {
        guard !(training && useGlobalStats), fusedScale == nil, fusedReLU == nil,
              let affine = scale.channelAffine(outer: outer, channels: channels, inner: inner) else { return false }
        fusedScale = affine
        return true
    }

    package func fuse(_ relu: ReLUFunction, training: Bool) -> Bool {
        guard !(training && useGlobalStats), fusedReLU == nil else { return false }
        fusedReLU = relu
        return true
    }

    /// Whether a Convolution before it may apply it (global statistics over its channels).
    var foldsIntoConvolution: Bool { useGlobalStats }

    /// What this layer (with what it folded) does to channel `c`, for a Convolution that
    /// applies it as it writes its output: y = relu(((x − mu)·inverse)·factor + shift), the
    /// very operations of `forward`.
    func channelTransform(_ c: Int) -> (mu: Float, inverse: Float, factor: Float, shift: Float, scales: Bool, relu: ReLUFunction?) {
        let normaliser = params[2].data[0]
        let s = normaliser == 0 ? 0 : 1 / normaliser
        let mu = params[0].data[c] * s, sigma2 = params[1].data[c] * s
        let inverse = 1 / (sigma2 + eps).squareRoot()
        let factor = fusedScale.map { $0.factors.data[c] } ?? 1, shift = fusedScale?.shifts?.data[c] ?? 0
        return (mu, inverse, factor, shift, fusedScale != nil, fusedReLU)
    }

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        useGlobalStats = try spec.bool("use_global_stats", default: context.phase == .test)
        movingAverageFraction = try spec.float("moving_average_fraction", default: 0.999, in: 0...1)
        eps = try spec.float("eps", default: 1e-5, in: 0...1)
    }

    public func isLearnable(parameter index: Int) -> Bool { false }
    public var forwardFLOPs: Int { 4 * outer * channels * inner }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let input = bottom[0]
        guard input.shape.count >= 2 else { throw error("expects an N×C×... bottom, but '\(input.name)' is \(input.shapeDescription)") }
        outer = input.shape[0]
        channels = input.shape[1]
        inner = input.count(from: 2)
        params = [Blob(name: "\(name).mean", shape: [channels]), Blob(name: "\(name).variance", shape: [channels]), Blob(name: "\(name).normaliser", shape: [1])]
        try normalized.reshape(useGlobalStats ? [0] : input.shape)
        try inverseDeviation.reshape([channels])
        try top[0].reshape(input.shape)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, xHat = useGlobalStats ? nil : normalized.data, inverseDeviation = inverseDeviation.data
        let mean = params[0].data, variance = params[1].data, normaliser = params[2].data
        let count = Double(outer * inner)
        let (outer, inner, stride) = (outer, inner, channels * inner)
        let (useGlobalStats, movingAverageFraction, eps) = (useGlobalStats, movingAverageFraction, eps)
        let fused = fusedScale.map { (factors: $0.factors.data, shifts: $0.shifts?.data) }, slope = fusedReLU?.slope
        // Channels are independent: threads take whole channels, each summed in the same
        // order as on one thread, so the result does not depend on the thread count.
        Parallel.forChunks(of: channels) { _, channelRange in
            for c in channelRange {
                var mu: Float, sigma2: Float
                if useGlobalStats {
                    let s = normaliser[0] == 0 ? 0 : 1 / normaliser[0]
                    mu = mean[c] * s
                    sigma2 = variance[c] * s
                } else {
                    // Sums of x − k with k the channel's first value: close to the mean, so
                    // Σ(x−k)² − (Σ(x−k))²/m loses little to cancellation even in floats.
                    let k = x[c * inner]
                    var sum = 0.0, squares = 0.0
                    for n in 0..<outer {
                        let (s, q) = shiftedSums(x + n * stride + c * inner, count: inner, shift: k)
                        sum += Double(s)
                        squares += Double(q)
                    }
                    let shifted = sum / count
                    mu = Float(Double(k) + shifted)
                    sigma2 = Float(max(squares / count - shifted * shifted, 0))
                    let correction = count > 1 ? Float(count / (count - 1)) : 1
                    mean[c] = movingAverageFraction * mean[c] + mu
                    variance[c] = movingAverageFraction * variance[c] + sigma2 * correction
                }
                let inverse = 1 / (sigma2 + eps).squareRoot()
                inverseDeviation[c] = inverse
                let factor = fused?.factors[c], shift = fused?.shifts?[c] ?? 0
                for n in 0..<outer {
                    let offset = n * stride + c * inner
                    normalizeRow(x + offset, into: y + offset, keeping: xHat.map { $0 + offset }, count: inner,
                                 mu: mu, inverse: inverse, factor: factor, shift: shift, slope: slope)
                }
            }
        }
        if !useGlobalStats { normaliser[0] = movingAverageFraction * normaliser[0] + 1 }
    }

    /// Batch statistics: dx = (dy − mean(dy) − x̂·mean(dy·x̂)) / √(σ²+eps) per channel;
    /// global statistics are constants, so dx = dy / √(σ²+eps). With a Scale and ReLU folded
    /// in, dy is first taken back through them (and the Scale's gradients added).
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let folded = fusedScale != nil || fusedReLU != nil
        guard bottom[0].needsGradient || folded else { return }
        applyJacobian(top[0].diff, into: bottom[0].needsGradient ? bottom[0].diff : nil, throughFoldedLayers: folded)
    }

    /// The Jacobian is symmetric (inverse deviation × (I − 11ᵀ/m − x̂x̂ᵀ/m) per channel), so
    /// forward mode applies to the tangent what backward applies to the gradient.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        precondition(fusedScale == nil && fusedReLU == nil, "forward mode through a BatchNorm with layers folded in")
        applyJacobian(bottomTangent[0].data, into: topTangent[0].data, throughFoldedLayers: false)
    }

    /// target = J·source, per channel, in place if they are one buffer (the sums are taken
    /// first). `throughFoldedLayers`: source is the gradient after the folded Scale and ReLU,
    /// which are taken back first, and the Scale's gradients are added; a nil target then
    /// computes only those.
    private func applyJacobian(_ source: UnsafeMutablePointer<Float>, into target: UnsafeMutablePointer<Float>?, throughFoldedLayers folded: Bool) {
        let xHat = normalized.data, inverseDeviation = inverseDeviation.data
        let (outer, inner, stride) = (outer, inner, channels * inner)
        let count = Double(outer * inner), useGlobalStats = useGlobalStats
        let fused = folded ? fusedScale.map { (factors: $0.factors.data, shifts: $0.shifts?.data, factorDiffs: $0.factors.diff, shiftDiffs: $0.shifts?.diff) } : nil
        let slope = folded ? fusedReLU?.slope : nil
        Parallel.forChunks(of: channels) { _, channelRange in
            for c in channelRange {
                let inverse = inverseDeviation[c]
                if useGlobalStats {  // never with folded layers (see `fuse`)
                    guard let target else { continue }
                    for n in 0..<outer {
                        let offset = n * stride + c * inner
                        for i in 0..<inner { target[offset + i] = source[offset + i] * inverse }
                    }
                    continue
                }
                let factor = fused?.factors[c], shift = fused?.shifts?[c] ?? 0
                var sum = 0.0, timesXHat = 0.0
                for n in 0..<outer {
                    let offset = n * stride + c * inner
                    let (s, t) = gradientSums(source + offset, xHat + offset, count: inner, factor: factor, shift: shift, slope: slope)
                    sum += Double(s)
                    timesXHat += Double(t)
                }
                // Σ over the Scale's output gradient g: the Scale's own gradients (Σg·x̂, Σg), and
                // the sums of dx̂ = g·factor the normalisation needs.
                fused?.factorDiffs[c] += Float(timesXHat)
                fused?.shiftDiffs?[c] += Float(sum)
                guard let target else { continue }
                let meanDiff = Float(sum / count) * (factor ?? 1), meanDiffTimesXHat = Float(timesXHat / count) * (factor ?? 1)
                for n in 0..<outer {
                    let offset = n * stride + c * inner
                    normalizationGradientRow(source + offset, xHat + offset, into: target + offset, count: inner, factor: factor, shift: shift,
                                             slope: slope, meanDiff: meanDiff, meanDiffTimesXHat: meanDiffTimesXHat, inverse: inverse)
                }
            }
        }
    }
}

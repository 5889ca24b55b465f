import SwiftCaffeCore
import SwiftCaffeSpec

/// y = x ⊙ s (+ b), with s (and b) broadcast along the bottom's axes `axis` ..< `axis + num_axes`
/// (Caffe's `Scale`; default: one value per channel). s is learned, filled by `filler`
/// (constant 1), or, with a second bottom, taken from it (and its gradient passed back).
/// `bias_term: true` adds a learned b (`bias_filler`, constant 0): Caffe's Scale + Bias.
public final class ScaleLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 1...2 }
    public static var supportsInPlace: Bool { true }
    let requestedAxis: Int
    let numAxes: Int
    let filler: FillerSpec
    let biasTerm: Bool
    let biasFiller: FillerSpec
    let context: LayerContext
    private var outer = 0, dim = 0, inner = 0
    /// In place, a copy of the bottom: the top overwrites it and backward needs x for ds.
    /// Deferred: it takes memory at the first forward, which a Scale folded away never runs.
    private var input = Blob(deferred: "")
    private var inPlace = false
    private var scaleIsBottom = false

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        requestedAxis = try spec.int("axis", default: 1)
        numAxes = try spec.int("num_axes", default: 1, in: -1...32)
        filler = try spec.filler("filler", default: FillerSpec(.constant, value: 1))
        biasTerm = try spec.bool("bias_term", default: false)
        biasFiller = try spec.filler("bias_filler", default: .zero)
    }

    public var forwardFLOPs: Int { outer * dim * inner * (biasTerm ? 2 : 1) }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0]
        let axis = try canonicalAxis(requestedAxis, rank: max(x.shape.count, 1), layer: self)
        // A scale given as a bottom spans as many axes as it has (Caffe ignores num_axes then).
        let end = bottom.count == 2 ? axis + bottom[1].shape.count : numAxes == -1 ? x.shape.count : axis + numAxes
        guard end <= x.shape.count else {
            throw error(bottom.count == 2 ? "the scale bottom '\(bottom[1].name)' (\(bottom[1].shapeDescription)) has more axes than '\(x.name)' has from axis \(axis)"
                                          : "axis \(axis) with num_axes \(numAxes) runs past the bottom's \(x.shape.count) axes")
        }
        let scaleShape = Array(x.shape[axis..<end])
        outer = x.count(from: 0, to: axis)
        dim = scaleShape.reduce(1, *)
        inner = x.count(from: end)
        params = []
        scaleIsBottom = bottom.count == 2
        if bottom.count == 2 {
            guard bottom[1].shape == scaleShape else {
                throw error("the scale bottom '\(bottom[1].name)' is \(bottom[1].shapeDescription), but '\(x.name)' is \(scaleShape.map(String.init).joined(separator: "x")) from axis \(axis)",
                            hint: "a second bottom must have the shape of the first's axes it scales, starting at 'axis'")
            }
        } else {
            params.append(try context.parameter(name, "scale", shape: scaleShape, filler: filler))
        }
        if biasTerm { params.append(try context.parameter(name, "bias", shape: scaleShape, filler: biasFiller)) }
        inPlace = top[0] === x
        if inPlace { try input.reshape(x.shape) }
        try top[0].reshape(x.shape)
    }

    private func scale(_ bottom: [Blob]) -> Blob { bottom.count == 2 ? bottom[1] : params[0] }

    /// Its learned factors (and shifts), when it scales the channels of an outer × channels ×
    /// inner blob by its own parameters: what the net's `InPlaceFolding` pass folds into a BatchNorm.
    func channelAffine(outer: Int, channels: Int, inner: Int) -> (factors: Blob, shifts: Blob?)? {
        guard !scaleIsBottom, (self.outer, dim, self.inner) == (outer, channels, inner) else { return nil }
        return (params[0], biasTerm ? params[1] : nil)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, s = scale(bottom).data
        if inPlace { input.data.update(from: x, count: bottom[0].count) }
        let b = biasTerm ? params[params.count - 1].data : nil
        let (dim, inner) = (dim, inner)
        Parallel.forChunks(of: outer * dim, minimumPerChunk: max(1, 4096 / max(inner, 1))) { _, rows in
            for row in rows {
                let d = row % dim, offset = row * inner, factor = s[d], shift = b?[d] ?? 0
                for i in 0..<inner { y[offset + i] = x[offset + i] * factor + shift }
            }
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let dy = top[0].diff, x = inPlace ? input.data : bottom[0].data, s = scale(bottom).data
        let learnsScale = bottom.count == 1
        let ds: UnsafeMutablePointer<Float>? = learnsScale ? params[0].diff : (bottom[1].needsGradient ? bottom[1].diff : nil)
        if !learnsScale, let ds { ds.update(repeating: 0, count: dim) }
        let db = biasTerm ? params[params.count - 1].diff : nil
        let dx = bottom[0].needsGradient ? bottom[0].diff : nil
        let (outer, dim, inner) = (outer, dim, inner)
        // Threads take whole channels d; each sums over o in the same order as one thread would.
        Parallel.forChunks(of: dim) { _, channels in
            for d in channels {
                for o in 0..<outer {
                    let offset = (o * dim + d) * inner
                    var scaleSum: Float = 0, biasSum: Float = 0
                    for i in 0..<inner {
                        scaleSum += dy[offset + i] * x[offset + i]
                        biasSum += dy[offset + i]
                    }
                    ds?[d] += scaleSum
                    db?[d] += biasSum
                    if let dx {
                        let factor = s[d]
                        for i in 0..<inner { dx[offset + i] = dy[offset + i] * factor }
                    }
                }
            }
        }
    }

    /// ẏ = ẋ·s + x·ṡ + ḃ, with ṡ the scale bottom's tangent or the scale parameter's.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let x = inPlace ? input.data : bottom[0].data, s = scale(bottom).data
        let dx = bottomTangent[0].data, dy = topTangent[0].data
        let ds: UnsafeMutablePointer<Float>? = bottom.count == 2 ? bottomTangent[1].data : parameterTangent?[0].data
        let db = biasTerm ? parameterTangent?[parameterTangent!.count - 1].data : nil
        for o in 0..<outer {
            for d in 0..<dim {
                let offset = (o * dim + d) * inner, factor = s[d], slope = ds?[d] ?? 0, shift = db?[d] ?? 0
                for i in 0..<inner { dy[offset + i] = dx[offset + i] * factor + x[offset + i] * slope + shift }
            }
        }
    }
}

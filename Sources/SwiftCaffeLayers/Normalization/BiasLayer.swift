import SwiftCaffeCore
import SwiftCaffeSpec

/// y = x + b with b broadcast along axes `axis` ..< `axis + num_axes` (Caffe's `Bias`;
/// default: one value per channel): learned, filled by `filler` (constant 0), or, with a
/// second bottom, taken from it (its shape spans the axes from `axis`; its gradient is passed
/// back).
public final class BiasLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 1...2 }
    public static var supportsInPlace: Bool { true }
    let requestedAxis: Int
    let numAxes: Int
    let filler: FillerSpec
    let context: LayerContext
    private var outer = 0, dim = 0, inner = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        requestedAxis = try spec.int("axis", default: 1)
        numAxes = try spec.int("num_axes", default: 1, in: -1...32)
        filler = try spec.filler("filler", default: .zero)
    }

    public var forwardFLOPs: Int { outer * dim * inner }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0]
        let axis = try canonicalAxis(requestedAxis, rank: max(x.shape.count, 1), layer: self)
        let end = bottom.count == 2 ? axis + bottom[1].shape.count : numAxes == -1 ? x.shape.count : axis + numAxes
        guard end <= x.shape.count else {
            throw error(bottom.count == 2 ? "the bias bottom '\(bottom[1].name)' (\(bottom[1].shapeDescription)) has more axes than '\(x.name)' has from axis \(axis)"
                                          : "axis \(axis) with num_axes \(numAxes) runs past the bottom's \(x.shape.count) axes")
        }
        let biasShape = Array(x.shape[axis..<end])
        outer = x.count(from: 0, to: axis)
        dim = x.count(from: axis, to: end)
        inner = x.count(from: end)
        if bottom.count == 2 {
            guard bottom[1].shape == biasShape else {
                throw error("the bias bottom '\(bottom[1].name)' is \(bottom[1].shapeDescription), but '\(x.name)' is \(biasShape.map(String.init).joined(separator: "x")) from axis \(axis)",
                            hint: "a second bottom must have the shape of the first's axes it shifts, starting at 'axis'")
            }
            params = []
        } else {
            params = [try context.parameter(name, "bias", shape: biasShape, filler: filler)]
        }
        try top[0].reshape(x.shape)
    }

    /// The bias: the second bottom, or the learned parameter.
    private func bias(_ bottom: [Blob]) -> Blob { bottom.count == 2 ? bottom[1] : params[0] }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, b = bias(bottom).data
        for o in 0..<outer {
            for d in 0..<dim {
                let offset = (o * dim + d) * inner, shift = b[d]
                for i in 0..<inner { y[offset + i] = x[offset + i] + shift }
            }
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let dy = top[0].diff
        // A bias bottom's diff is written, a parameter's added to (the solver zeroes those).
        if bottom.count == 1 || bottom[1].needsGradient {
            let db = bias(bottom).diff
            if bottom.count == 2 { db.update(repeating: 0, count: dim) }
            for o in 0..<outer {
                for d in 0..<dim { db[d] += sum(dy + (o * dim + d) * inner, count: inner) }
            }
        }
        if bottom[0].needsGradient && bottom[0].diff != dy { bottom[0].diff.update(from: dy, count: bottom[0].count) }
    }

    /// ẏ = ẋ + ḃ.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let dx = bottomTangent[0].data, dy = topTangent[0].data
        let db = bottom.count == 2 ? bottomTangent[1].data : parameterTangent?[0].data
        for o in 0..<outer {
            for d in 0..<dim {
                let offset = (o * dim + d) * inner, shift = db?[d] ?? 0
                for i in 0..<inner { dy[offset + i] = dx[offset + i] + shift }
            }
        }
    }
}

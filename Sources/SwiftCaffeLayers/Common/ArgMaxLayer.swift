import SwiftCaffeCore
import SwiftCaffeSpec

/// The indices of the `top_k` (1) largest values (Caffe's `ArgMax`). Along `axis` when given
/// (that axis becomes top_k long); otherwise over each sample's values, giving N×1×top_k, or
/// N×2×top_k with `out_max_val: true` (indices, then values). No gradient.
public final class ArgMaxLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let topK: Int
    let outMaxValue: Bool
    let requestedAxis: Int?
    private var outer = 0, channels = 0, inner = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        topK = try spec.int("top_k", default: 1, in: 1...Int(Int32.max))
        outMaxValue = try spec.bool("out_max_val", default: false)
        requestedAxis = try spec.optionalInt("axis")
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let shape = bottom[0].shape
        if let requestedAxis {
            let axis = try canonicalAxis(requestedAxis, rank: shape.count, layer: self)
            outer = bottom[0].count(from: 0, to: axis)
            channels = shape[axis]
            inner = bottom[0].count(from: axis + 1)
            var result = shape
            result[axis] = topK
            try top[0].reshape(result)
        } else {
            outer = shape.first ?? 1
            channels = bottom[0].count / max(outer, 1)
            inner = 1
            try top[0].reshape([outer, outMaxValue ? 2 : 1, topK])
        }
        guard topK <= channels else { throw error("top_k \(topK) exceeds the \(channels) values it picks from") }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, channels = channels, inner = inner
        var order = [Int](repeating: 0, count: channels)
        for o in 0..<outer {
            for i in 0..<inner {
                for c in 0..<channels { order[c] = c }
                let value = { (c: Int) in x[(o * channels + c) * inner + i] }
                // Largest first; ties keep the lower index first.
                order.sort { value($0) > value($1) || (value($0) == value($1) && $0 < $1) }
                for k in 0..<topK {
                    if requestedAxis != nil {
                        y[(o * topK + k) * inner + i] = outMaxValue ? value(order[k]) : Float(order[k])
                    } else {
                        y[o * (outMaxValue ? 2 : 1) * topK + k] = Float(order[k])
                        if outMaxValue { y[o * 2 * topK + topK + k] = value(order[k]) }
                    }
                }
            }
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}

    /// Its outputs are indices or counts, constant between ties, and like backward it passes
    /// no derivative back: the tangents are zero.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        for tangent in topTangent { tangent.data.update(repeating: 0, count: tangent.count) }
    }
}

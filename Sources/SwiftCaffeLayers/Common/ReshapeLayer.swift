import SwiftCaffeCore
import SwiftCaffeSpec

/// Gives the bottom a new shape with the same values (Caffe's `Reshape`). In `shape`, 0 copies
/// the bottom's dimension at that place and −1 (at most once) is inferred from the count.
/// `axis` (0) and `num_axes` (−1: to the end) select the bottom axes that `shape` replaces.
public final class ReshapeLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let dims: [Int]
    let requestedAxis: Int
    let numAxes: Int

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        dims = try spec.intList("shape", in: -1...Int(Int32.max))
        if dims.isEmpty && !spec.has("shape") { throw spec.missing("shape", "list of dimensions") }
        if dims.filter({ $0 == -1 }).count > 1 { throw spec.error("'shape' has more than one -1", at: spec.node("shape")) }
        requestedAxis = try spec.int("axis", default: 0)
        numAxes = try spec.int("num_axes", default: -1, in: -1...32)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let shape = bottom[0].shape
        let start = requestedAxis < 0 ? shape.count + 1 + requestedAxis : requestedAxis
        guard (0...shape.count).contains(start) else { throw error("'axis' \(requestedAxis) is outside the bottom's \(shape.count) axes") }
        let end = numAxes == -1 ? shape.count : start + numAxes
        guard end <= shape.count else { throw error("axis \(start) with num_axes \(numAxes) runs past the bottom's \(shape.count) axes") }
        var middle: [Int] = []
        for (index, dim) in dims.enumerated() {
            if dim == 0 {
                guard start + index < shape.count else { throw error("shape entry \(index) is 0 but the bottom has no axis \(start + index) to copy") }
                middle.append(shape[start + index])
            } else {
                middle.append(dim)
            }
        }
        var result = Array(shape[..<start]) + middle + Array(shape[end...])
        guard let known = checkedCount(result.filter { $0 != -1 }) else { throw error("shape \(dims) is too large (over 2³¹ values)") }
        if let inferred = result.firstIndex(of: -1) {
            guard known > 0, bottom[0].count % known == 0 else {
                throw error("cannot infer the -1 in \(dims): \(bottom[0].count) values do not divide by \(known)")
            }
            result[inferred] = bottom[0].count / known
        }
        guard result.reduce(1, *) == bottom[0].count else {
            throw error("shape \(result) holds \(result.reduce(1, *)) values, but '\(bottom[0].name)' (\(bottom[0].shapeDescription)) has \(bottom[0].count)")
        }
        try top[0].reshape(result)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        top[0].data.update(from: bottom[0].data, count: bottom[0].count)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        if bottom[0].needsGradient { bottom[0].diff.update(from: top[0].diff, count: top[0].count) }
    }

    /// The values are copied, so are their tangents.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        topTangent[0].data.update(from: bottomTangent[0].data, count: bottom[0].count)
    }
}

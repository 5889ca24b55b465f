import SwiftCaffeCore
import SwiftCaffeSpec

/// Merges axes `axis` (1) through `end_axis` (−1) into one (Caffe's `Flatten`): N×C×H×W
/// becomes N×(C·H·W). The values are copied unchanged.
public final class FlattenLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let requestedAxis: Int, requestedEnd: Int

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedAxis = try spec.int("axis", default: 1)
        requestedEnd = try spec.int("end_axis", default: -1)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let shape = bottom[0].shape
        let axis = try canonicalAxis(requestedAxis, rank: shape.count, layer: self)
        let end = try canonicalAxis(requestedEnd, rank: shape.count, layer: self)
        guard axis <= end else { throw error("axis \(axis) comes after end_axis \(end)") }
        try top[0].reshape(Array(shape[..<axis]) + [shape[axis...end].reduce(1, *)] + Array(shape[(end + 1)...]))
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

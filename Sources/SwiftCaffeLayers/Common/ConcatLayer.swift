import SwiftCaffeCore
import SwiftCaffeSpec

/// Joins bottoms of equal shape except along `axis` (1) into one top (Caffe's `Concat`).
public final class ConcatLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 1...Int.max }
    let requestedAxis: Int
    private var outer = 0, inner = 0, sizes: [Int] = []

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedAxis = try spec.int("axis", default: 1)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let first = bottom[0]
        let axis = try canonicalAxis(requestedAxis, rank: first.shape.count, layer: self)
        for blob in bottom.dropFirst() {
            guard blob.shape.count == first.shape.count,
                  blob.shape.indices.allSatisfy({ $0 == axis || blob.shape[$0] == first.shape[$0] }) else {
                throw error("'\(blob.name)' (\(blob.shapeDescription)) and '\(first.name)' (\(first.shapeDescription)) must agree on every axis but \(axis)")
            }
        }
        outer = first.count(from: 0, to: axis)
        inner = first.count(from: axis + 1)
        sizes = bottom.map { $0.shape[axis] }
        var shape = first.shape
        shape[axis] = sizes.reduce(0, +)
        try top[0].reshape(shape)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let total = sizes.reduce(0, +) * inner
        var offset = 0
        for (blob, size) in zip(bottom, sizes) {
            let chunk = size * inner
            for o in 0..<outer { (top[0].data + o * total + offset).update(from: blob.data + o * chunk, count: chunk) }
            offset += chunk
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let total = sizes.reduce(0, +) * inner
        var offset = 0
        for (blob, size) in zip(bottom, sizes) {
            let chunk = size * inner
            if blob.needsGradient {
                for o in 0..<outer { (blob.diff + o * chunk).update(from: top[0].diff + o * total + offset, count: chunk) }
            }
            offset += chunk
        }
    }

    /// The tangents are joined as the values are.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        forward(bottom: bottomTangent, top: topTangent)
    }
}

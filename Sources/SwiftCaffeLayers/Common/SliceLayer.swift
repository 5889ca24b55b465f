import SwiftCaffeCore
import SwiftCaffeSpec

/// Cuts a bottom along `axis` (1) into several tops (Caffe's `Slice`): at the indices in
/// `slice_point`, or into equal parts when none are given.
public final class SliceLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var topCount: ClosedRange<Int> { 1...Int.max }
    let requestedAxis: Int
    let slicePoints: [Int]
    private var outer = 0, inner = 0, total = 0, sizes: [Int] = []

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedAxis = try spec.int("axis", default: 1)
        slicePoints = try spec.intList("slice_point", in: 1...Int.max)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0]
        let axis = try canonicalAxis(requestedAxis, rank: x.shape.count, layer: self)
        let length = x.shape[axis]
        if slicePoints.isEmpty {
            guard length % top.count == 0 else {
                throw error("axis \(axis) has \(length) entries, not divisible into \(top.count) tops", hint: "give slice_point")
            }
            sizes = Array(repeating: length / top.count, count: top.count)
        } else {
            guard slicePoints.count == top.count - 1 else {
                throw error("\(slicePoints.count) slice points for \(top.count) tops", hint: "give one fewer slice point than tops")
            }
            let bounds = [0] + slicePoints + [length]
            guard zip(bounds, bounds.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw error("slice_point \(slicePoints) must increase and stay inside 1..<\(length)")
            }
            sizes = zip(bounds, bounds.dropFirst()).map { $1 - $0 }
        }
        outer = x.count(from: 0, to: axis)
        inner = x.count(from: axis + 1)
        total = length * inner
        for (blob, size) in zip(top, sizes) {
            var shape = x.shape
            shape[axis] = size
            try blob.reshape(shape)
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        var offset = 0
        for (blob, size) in zip(top, sizes) {
            let chunk = size * inner
            for o in 0..<outer { (blob.data + o * chunk).update(from: bottom[0].data + o * total + offset, count: chunk) }
            offset += chunk
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        var offset = 0
        for (blob, size) in zip(top, sizes) {
            let chunk = size * inner
            for o in 0..<outer { (bottom[0].diff + o * total + offset).update(from: blob.diff + o * chunk, count: chunk) }
            offset += chunk
        }
    }

    /// The layer is linear: the tops' tangents are the forward pass applied to the bottoms' tangents.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        forward(bottom: bottomTangent, top: topTangent)
    }
}

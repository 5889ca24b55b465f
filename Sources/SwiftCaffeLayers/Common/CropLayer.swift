import SwiftCaffeCore
import SwiftCaffeSpec

/// Crops the first bottom to the shape of the second from axis `axis` (2) on, starting at
/// `offset` (one value for every cropped axis, or one each; default 0). Caffe's `Crop`.
public final class CropLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...2 }
    let requestedAxis: Int
    let offsets: [Int]
    private var starts: [Int] = []

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedAxis = try spec.int("axis", default: 2)
        offsets = try spec.intList("offset", in: 0...Int(Int32.max))
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let a = bottom[0].shape, b = bottom[1].shape
        guard a.count == b.count else { throw error("'\(bottom[0].name)' and '\(bottom[1].name)' must have the same number of axes") }
        let axis = try canonicalAxis(requestedAxis, rank: a.count, layer: self)
        let cropped = a.count - axis
        guard offsets.count <= 1 || offsets.count == cropped else {
            throw error("\(offsets.count) offsets for \(cropped) cropped axes", hint: "give one offset, or one per axis from \(axis) on")
        }
        var shape = a
        starts = [Int](repeating: 0, count: a.count)
        for d in axis..<a.count {
            let offset = offsets.isEmpty ? 0 : offsets[offsets.count == 1 ? 0 : d - axis]
            guard offset + b[d] <= a[d] else {
                throw error("axis \(d): offset \(offset) plus the reference size \(b[d]) exceeds \(a[d])")
            }
            starts[d] = offset
            shape[d] = b[d]
        }
        try top[0].reshape(shape)
    }

    /// The bottom index of every top element, in order.
    private func forEachPair(_ top: Blob, _ bottom: Blob, _ body: (Int, Int) -> Void) {
        let shape = top.shape, source = bottom.shape
        var index = [Int](repeating: 0, count: shape.count)
        for t in 0..<top.count {
            var b = 0
            for d in 0..<shape.count { b = b * source[d] + index[d] + starts[d] }
            body(t, b)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data
        forEachPair(top[0], bottom[0]) { t, b in y[t] = x[b] }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let dx = bottom[0].diff, dy = top[0].diff
        bottom[0].zeroDiff()
        forEachPair(top[0], bottom[0]) { t, b in dx[b] = dy[t] }
    }

    /// The layer is linear: the tops' tangents are the forward pass applied to the bottoms' tangents.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        forward(bottom: bottomTangent, top: topTangent)
    }
}

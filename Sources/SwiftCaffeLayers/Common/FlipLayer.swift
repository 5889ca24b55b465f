import SwiftCaffeCore
import SwiftCaffeSpec

/// Reverses the order along `axis` (−1, the last: an N×C×H×W image mirrored left to right).
/// Not in Caffe; PyTorch's `torch.flip`. With Concat, Slice and Eltwise it averages a net's
/// scores over an image and its mirror at test time, as pycaffe's `oversample` does with
/// crops (nets/fashion_aug.yaml).
public final class FlipLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let requestedAxis: Int
    /// The bottom as outer × length × inner: the length entries of each outer index are reversed.
    private var outer = 0, length = 0, inner = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedAxis = try spec.int("axis", default: -1)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0]
        let axis = try canonicalAxis(requestedAxis, rank: max(x.shape.count, 1), layer: self)
        if x.shape.isEmpty {  // a scalar (a loss): one value, nothing to reverse
            (outer, length, inner) = (1, 1, 1)
        } else {
            (outer, length, inner) = (x.count(from: 0, to: axis), x.shape[axis], x.count(from: axis + 1))
        }
        try top[0].reshape(x.shape)
    }

    /// target = source reversed along the axis. A flip is its own inverse and its own
    /// transpose, so forward, backward and forward mode all apply it.
    private func flip(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>) {
        let (length, inner) = (length, inner)
        Parallel.forChunks(of: outer, minimumPerChunk: max(1, 16_384 / max(length * inner, 1))) { _, range in
            for o in range {
                let from = source + o * length * inner, to = target + o * length * inner
                if inner == 1 {
                    for i in 0..<length { to[i] = from[length - 1 - i] }
                } else {
                    for i in 0..<length { (to + i * inner).update(from: from + (length - 1 - i) * inner, count: inner) }
                }
            }
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        flip(bottom[0].data, into: top[0].data)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        flip(top[0].diff, into: bottom[0].diff)
    }

    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        flip(bottomTangent[0].data, into: topTangent[0].data)
    }
}

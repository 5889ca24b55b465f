import SwiftCaffeCore
import SwiftCaffeSpec

/// Repeats the bottom `tiles` times along `axis` (1) (Caffe's `Tile`).
public final class TileLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let requestedAxis: Int
    let tiles: Int
    private var outer = 0, block = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedAxis = try spec.int("axis", default: 1)
        tiles = try spec.int("tiles", in: 1...Int(Int32.max))
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let axis = try canonicalAxis(requestedAxis, rank: bottom[0].shape.count, layer: self)
        outer = bottom[0].count(from: 0, to: axis)
        block = bottom[0].count(from: axis)
        var shape = bottom[0].shape
        shape[axis] *= tiles
        try top[0].reshape(shape)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        for o in 0..<outer {
            for t in 0..<tiles { (top[0].data + (o * tiles + t) * block).update(from: bottom[0].data + o * block, count: block) }
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let dx = bottom[0].diff, dy = top[0].diff
        for o in 0..<outer {
            let target = dx + o * block
            target.update(from: dy + o * tiles * block, count: block)
            for t in 1..<tiles {
                let source = dy + (o * tiles + t) * block
                for i in 0..<block { target[i] += source[i] }
            }
        }
    }

    /// The layer is linear: the tops' tangents are the forward pass applied to the bottoms' tangents.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        forward(bottom: bottomTangent, top: topTangent)
    }
}

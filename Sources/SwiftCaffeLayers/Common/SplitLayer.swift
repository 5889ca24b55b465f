import SwiftCaffeCore
import SwiftCaffeSpec

/// Copies one bottom to several tops and sums their diffs in backward. The net inserts it
/// wherever one blob feeds several layers, which is how gradients from every consumer of a
/// blob are added up (layers overwrite bottom diffs, so each consumer needs its own copy).
public final class SplitLayer: Layer, TangentLayer, ChannelsLastCapable {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var topCount: ClosedRange<Int> { 1...Int.max }

    public init(spec: LayerSpec, context: LayerContext) throws { self.spec = spec }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        for blob in top { try blob.reshape(bottom[0].shape) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        for blob in top { blob.data.update(from: bottom[0].data, count: bottom[0].count) }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let dx = bottom[0].diff, count = bottom[0].count
        dx.update(from: top[0].diff, count: count)
        for blob in top.dropFirst() {
            let dy = blob.diff
            for i in 0..<count { dx[i] += dy[i] }
        }
    }

    /// Every top is the bottom, so every top's tangent is the bottom's.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        for blob in topTangent { blob.data.update(from: bottomTangent[0].data, count: bottom[0].count) }
    }
}

import SwiftCaffeCore
import SwiftCaffeSpec

/// Joins bottoms of equal shape except along `axis` (1) into one top (Caffe's `Concat`).
public final class ConcatLayer: Layer, TangentLayer, ChannelsLastCapable {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 1...Int.max }
    let requestedAxis: Int
    private var outer = 0, inner = 0, sizes: [Int] = [], axis = 1, rank = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedAxis = try spec.int("axis", default: 1)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let first = bottom[0]
        axis = try canonicalAxis(requestedAxis, rank: first.shape.count, layer: self)
        rank = first.shape.count
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
        if channelsLast {
            forwardChannelsLast(bottom: bottom, top: top)
            return
        }
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

    // MARK: Channels last

    /// Whether the blobs are laid out N×H×W×C (`ChannelsLastLayout`, inference only).
    private(set) var channelsLast = false
    package var canUseChannelsLast: Bool { axis == 1 && rank == 4 }
    package func useChannelsLast(bottom: Bool, top: Bool) { channelsLast = bottom }

    /// Joins N×H×W×C bottoms along the channels: each position's channels of every bottom,
    /// side by side (`outer` is the batch, `inner` the positions).
    private func forwardChannelsLast(bottom: [Blob], top: [Blob]) {
        let total = sizes.reduce(0, +), sizes = sizes, sources = bottom.map { UnsafePointer($0.data) }, target = top[0].data
        Parallel.forChunks(of: outer * inner, minimumPerChunk: 64) { _, positions in
            for position in positions {
                var offset = position * total
                for (source, size) in zip(sources, sizes) {
                    (target + offset).update(from: source + position * size, count: size)
                    offset += size
                }
            }
        }
    }
}

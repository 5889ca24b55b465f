import SwiftCaffeCore
import SwiftCaffeSpec

/// Reorders the axes (the `Permute` layer of Caffe's SSD branch): `order: [1, 0, 2]` turns an
/// N×T×D blob into T×N×D, time first as the recurrent layers take it; `order: [0, 2, 3, 1]`
/// turns N×C×H×W into N×H×W×C. Axes the order leaves out follow in their own order, so
/// `order: [1]` on N×T×D is [1, 0, 2]. Top axis i is bottom axis order[i].
public final class PermuteLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let requestedOrder: [Int]
    private var order: [Int] = []
    /// For each top position, the offset of that element in the bottom, computed once.
    private var sourceIndex: [Int32] = []

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        requestedOrder = try spec.intList("order", in: 0...31)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let shape = bottom[0].shape
        guard Set(requestedOrder).count == requestedOrder.count else {
            throw error("'order' \(requestedOrder) names an axis twice", hint: "give each axis once")
        }
        if let beyond = requestedOrder.first(where: { $0 >= shape.count }) {
            throw error("'order' names axis \(beyond) but the bottom '\(bottom[0].name)' has \(shape.count) axes (\(bottom[0].shapeDescription))")
        }
        order = requestedOrder + shape.indices.filter { !requestedOrder.contains($0) }
        guard bottom[0].count < Int(Int32.max) else { throw error("the bottom holds \(bottom[0].count) values; Permute indexes them with 32 bits") }
        try MemoryBudget.require(bottom[0].count * MemoryLayout<Int32>.stride, for: "the index of layer '\(name)'")
        let topShape = order.map { shape[$0] }
        try top[0].reshape(topShape)
        // Bottom strides, read in the top's axis order.
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        let permutedStrides = order.map { strides[$0] }
        sourceIndex = [Int32](repeating: 0, count: bottom[0].count)
        var position = [Int](repeating: 0, count: shape.count), offset = 0
        for index in 0..<sourceIndex.count {
            sourceIndex[index] = Int32(offset)
            // Advance the top's multi-index like an odometer, keeping the bottom offset in step.
            var axis = shape.count - 1
            while axis >= 0 {
                position[axis] += 1
                offset += permutedStrides[axis]
                if position[axis] < topShape[axis] { break }
                offset -= permutedStrides[axis] * topShape[axis]
                position[axis] = 0
                axis -= 1
            }
        }
    }

    private func gather(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>) {
        sourceIndex.withUnsafeBufferPointer { index in
            for i in index.indices { target[i] = source[Int(index[i])] }
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        gather(bottom[0].data, into: top[0].data)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let source = top[0].diff, target = bottom[0].diff
        sourceIndex.withUnsafeBufferPointer { index in
            for i in index.indices { target[Int(index[i])] = source[i] }
        }
    }

    /// A reordering is linear: the tangents are reordered the same way.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        gather(bottomTangent[0].data, into: topTangent[0].data)
    }
}

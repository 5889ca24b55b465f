import SwiftCaffeCore
import SwiftCaffeSpec

/// Σ (a − b)² / (2N), N the batch size (Caffe's `EuclideanLoss`); gradients flow to both bottoms.
public final class EuclideanLossLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...2 }
    public static var isLoss: Bool { true }
    private var difference = Blob()

    public init(spec: LayerSpec, context: LayerContext) throws { self.spec = spec }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom[0].count == bottom[1].count else {
            throw error("'\(bottom[0].name)' (\(bottom[0].shapeDescription)) and '\(bottom[1].name)' (\(bottom[1].shapeDescription)) differ in size",
                        hint: "both bottoms must hold the same number of values")
        }
        try difference.reshape(bottom[0].shape)
        try top[0].reshape([])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let a = bottom[0].data, b = bottom[1].data, d = difference.data
        var sum: Float = 0
        for i in 0..<difference.count {
            d[i] = a[i] - b[i]
            sum += d[i] * d[i]
        }
        top[0].data[0] = sum / Float(2 * bottom[0].num)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let d = difference.data
        let scale = top[0].diff[0] / Float(bottom[0].num)
        for (index, blob) in bottom.enumerated() where blob.needsGradient {
            let sign: Float = index == 0 ? 1 : -1
            let dx = blob.diff
            for i in 0..<difference.count { dx[i] = sign * scale * d[i] }
        }
    }

    /// d/dv of Σ (a − b)² / 2N is Σ (a − b)(ȧ − ḃ) / N.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let d = difference.data, da = bottomTangent[0].data, db = bottomTangent[1].data
        var sum: Float = 0
        for i in 0..<difference.count { sum += d[i] * (da[i] - db[i]) }
        topTangent[0].data[0] = sum / Float(bottom[0].num)
    }
}

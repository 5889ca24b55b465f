import SwiftCaffeCore
import SwiftCaffeSpec

/// Caffe's `ContrastiveLoss` for siamese nets: bottoms a and b (N×D) and a similarity label
/// y (N, 1 = similar). With d = ‖a − b‖,
/// loss = Σ [y·d² + (1−y)·max(margin − d, 0)²] / 2N, or with `legacy_version: true`
/// Σ [y·d² + (1−y)·max(margin − d², 0)] / 2N. `margin` defaults to 1.
public final class ContrastiveLossLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 3...3 }
    public static var isLoss: Bool { true }
    let margin: Float
    let legacy: Bool
    private var batch = 0, dim = 0
    private var squaredDistance: [Float] = []

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        margin = try spec.float("margin", default: 1)
        legacy = try spec.bool("legacy_version", default: false)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom[0].shape == bottom[1].shape else {
            throw error("'\(bottom[0].name)' (\(bottom[0].shapeDescription)) and '\(bottom[1].name)' (\(bottom[1].shapeDescription)) differ in shape")
        }
        batch = bottom[0].shape.first ?? 1
        dim = bottom[0].count / max(batch, 1)
        guard bottom[2].count == batch else { throw error("\(batch) pairs but \(bottom[2].count) similarity labels") }
        squaredDistance = [Float](repeating: 0, count: batch)
        try top[0].reshape([])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let a = bottom[0].data, b = bottom[1].data, y = bottom[2].data
        var loss: Float = 0
        for n in 0..<batch {
            var d2: Float = 0
            for i in 0..<dim {
                let d = a[n * dim + i] - b[n * dim + i]
                d2 += d * d
            }
            squaredDistance[n] = d2
            if y[n] != 0 {
                loss += d2
            } else if legacy {
                loss += max(margin - d2, 0)
            } else {
                let gap = max(margin - d2.squareRoot(), 0)
                loss += gap * gap
            }
        }
        top[0].data[0] = loss / Float(2 * batch)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let a = bottom[0].data, b = bottom[1].data, y = bottom[2].data
        for (index, blob) in bottom.prefix(2).enumerated() where blob.needsGradient {
            let sign: Float = index == 0 ? 1 : -1
            let alpha = sign * top[0].diff[0] / Float(batch)
            let dx = blob.diff
            for n in 0..<batch {
                let d2 = squaredDistance[n]
                // The factor on (a − b) for this pair.
                var beta: Float = 0
                if y[n] != 0 {
                    beta = alpha
                } else if legacy {
                    beta = margin - d2 > 0 ? -alpha : 0
                } else {
                    let d = d2.squareRoot()
                    beta = margin - d > 0 ? -alpha * (margin - d) / (d + 1e-4) : 0
                }
                for i in 0..<dim { dx[n * dim + i] = beta * (a[n * dim + i] - b[n * dim + i]) }
            }
        }
    }

    /// L̇ = Σ_n c_n·⟨a − b, ȧ − ḃ⟩ / N, with backward's factor c_n per pair (Caffe's, whose
    /// 1e-4 in (margin − d) / (d + 1e-4) keeps a pair at distance 0 finite), so that the two
    /// modes are adjoint exactly. The similarity labels are held fixed.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let a = bottom[0].data, b = bottom[1].data, y = bottom[2].data, da = bottomTangent[0].data, db = bottomTangent[1].data
        var sum: Float = 0
        for n in 0..<batch {
            let d2 = squaredDistance[n]
            var factor: Float = 0
            if y[n] != 0 {
                factor = 1
            } else if legacy {
                factor = margin - d2 > 0 ? -1 : 0
            } else {
                let d = d2.squareRoot()
                factor = margin - d > 0 ? -(margin - d) / (d + 1e-4) : 0
            }
            var projection: Float = 0
            for i in 0..<dim { projection += (a[n * dim + i] - b[n * dim + i]) * (da[n * dim + i] - db[n * dim + i]) }
            sum += factor * projection
        }
        topTangent[0].data[0] = sum / Float(batch)
    }
}

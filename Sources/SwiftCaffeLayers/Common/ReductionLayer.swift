import SwiftCaffeCore
import SwiftCaffeSpec

/// Reduces all axes from `axis` (0) on to one number per leading index (Caffe's
/// `Reduction`): `operation` SUM, ASUM (Σ|x|), SUMSQ (Σx²) or MEAN, times `coeff` (1).
public final class ReductionLayer: Layer, TangentLayer {
    public enum Operation: String, CaseIterable { case sum = "SUM", asum = "ASUM", sumsq = "SUMSQ", mean = "MEAN" }

    public let spec: LayerSpec
    public var params: [Blob] = []
    let operation: Operation
    let requestedAxis: Int
    let coefficient: Float
    private var outer = 0, inner = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        operation = Operation(rawValue: try spec.choice("operation", from: Operation.allCases.map(\.rawValue), default: "SUM"))!
        requestedAxis = try spec.int("axis", default: 0)
        coefficient = try spec.float("coeff", default: 1)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let axis = try canonicalAxis(requestedAxis, rank: max(bottom[0].shape.count, 1), layer: self)
        outer = bottom[0].count(from: 0, to: axis)
        inner = bottom[0].count(from: axis)
        try top[0].reshape(Array(bottom[0].shape[..<axis]))
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data
        for o in 0..<outer {
            let row = x + o * inner
            var total: Float = 0
            switch operation {
            case .sum, .mean: total = sum(row, count: inner)
            case .asum: for i in 0..<inner { total += abs(row[i]) }
            case .sumsq: for i in 0..<inner { total += row[i] * row[i] }
            }
            top[0].data[o] = coefficient * (operation == .mean ? total / Float(inner) : total)
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let x = bottom[0].data, dx = bottom[0].diff
        for o in 0..<outer {
            let g = coefficient * top[0].diff[o]
            for i in 0..<inner {
                let k = o * inner + i
                dx[k] = switch operation {
                case .sum: g
                case .mean: g / Float(inner)
                case .asum: g * (x[k] > 0 ? 1 : (x[k] < 0 ? -1 : 0))
                case .sumsq: 2 * g * x[k]
                }
            }
        }
    }

    /// ẏ = coeff · Σ f′(x)·ẋ over the reduced axes (f′ = 1, 1/n, sign x or 2x).
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let x = bottom[0].data, dx = bottomTangent[0].data
        for o in 0..<outer {
            var total: Float = 0
            for i in 0..<inner {
                let k = o * inner + i
                let slope: Float = switch operation {
                case .sum: 1
                case .mean: 1 / Float(inner)
                case .asum: x[k] > 0 ? 1 : (x[k] < 0 ? -1 : 0)
                case .sumsq: 2 * x[k]
                }
                total += dx[k] * slope
            }
            topTangent[0].data[o] = coefficient * total
        }
    }
}

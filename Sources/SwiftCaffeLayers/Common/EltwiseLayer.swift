import SwiftCaffeCore
import SwiftCaffeSpec

/// Combines bottoms of one shape element by element (Caffe's `Eltwise`): `operation` SUM
/// (weighted by `coeff`, default all 1), PROD or MAX (the gradient goes to the largest).
public final class EltwiseLayer: Layer, TangentLayer, ReLUFusing, ChannelsLastCapable {
    public enum Operation: String, CaseIterable { case sum = "SUM", prod = "PROD", max = "MAX" }

    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...Int.max }
    let operation: Operation
    let coefficients: [Float]
    private var winners: [Int32] = []

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        operation = Operation(rawValue: try spec.choice("operation", from: Operation.allCases.map(\.rawValue), default: "SUM"))!
        coefficients = try spec.floatList("coeff")
        if !coefficients.isEmpty && operation != .sum {
            throw spec.error("'coeff' applies to operation SUM only", at: spec.node("coeff"))
        }
    }

    public var forwardFLOPs: Int { winners.count * spec.bottoms.count }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        if !coefficients.isEmpty && coefficients.count != bottom.count {
            throw error("\(coefficients.count) coefficients for \(bottom.count) bottoms", hint: "give one coeff per bottom")
        }
        for blob in bottom.dropFirst() where blob.shape != bottom[0].shape {
            throw error("'\(blob.name)' (\(blob.shapeDescription)) and '\(bottom[0].name)' (\(bottom[0].shapeDescription)) differ in shape")
        }
        try top[0].reshape(bottom[0].shape)
        winners = operation == .max ? [Int32](repeating: 0, count: bottom[0].count) : []
    }

    private func coefficient(_ index: Int) -> Float { coefficients.isEmpty ? 1 : coefficients[index] }

    /// A ReLU folded in for inference (the net's `InPlaceFolding` pass): ResNet's sum → relu.
    package private(set) var fusedReLU: ReLUFunction?

    /// Whether it is `bottom[0] + bottom[1]` (then its ReLU): a residual sum that the
    /// convolution writing one summand can take over (`ConvolutionLayer.fuseResidualSum`).
    package var isPlainSumOfTwo: Bool { operation == .sum && coefficients.allSatisfy { $0 == 1 } && spec.bottoms.count == 2 }

    /// Only for inference: backward would need the ReLU's mask.
    package func fuse(_ relu: ReLUFunction, training: Bool) -> Bool {
        guard !training, fusedReLU == nil else { return false }
        fusedReLU = relu
        return true
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let y = top[0].data, count = top[0].count
        switch operation {
        case .sum:
            // Threads take ranges, and each range goes through every bottom a cache-sized block
            // at a time; the sums are the same, in the same order, as one pass per bottom.
            let relu = fusedReLU
            Parallel.forChunks(of: count, minimumPerChunk: 1 << 14) { _, range in
                var start = range.lowerBound
                while start < range.upperBound {
                    let block = start..<min(start + 4096, range.upperBound)
                    let c0 = coefficient(0), x0 = bottom[0].data
                    for i in block { y[i] = c0 * x0[i] }
                    for index in 1..<bottom.count {
                        let c = coefficient(index), x = bottom[index].data
                        for i in block { y[i] += c * x[i] }
                    }
                    if let relu { for i in block { y[i] = relu.value(y[i]) } }
                    start = block.upperBound
                }
            }
            return
        case .prod:
            y.update(from: bottom[0].data, count: count)
            for blob in bottom.dropFirst() { for i in 0..<count { y[i] *= blob.data[i] } }
        case .max:
            y.update(from: bottom[0].data, count: count)
            for i in 0..<count { winners[i] = 0 }
            for (index, blob) in bottom.enumerated().dropFirst() {
                for i in 0..<count where blob.data[i] > y[i] {
                    y[i] = blob.data[i]
                    winners[i] = Int32(index)
                }
            }
        }
        if let relu = fusedReLU { for i in 0..<count { y[i] = relu.value(y[i]) } }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let dy = top[0].diff, count = top[0].count
        for (index, blob) in bottom.enumerated() where blob.needsGradient {
            let dx = blob.diff
            switch operation {
            case .sum:
                let c = coefficient(index)
                for i in 0..<count { dx[i] = c * dy[i] }
            case .prod:
                // The product of the other bottoms, not y / x (which fails where x is 0).
                for i in 0..<count {
                    var others: Float = 1
                    for (j, other) in bottom.enumerated() where j != index { others *= other.data[i] }
                    dx[i] = dy[i] * others
                }
            case .max:
                for i in 0..<count { dx[i] = winners[i] == Int32(index) ? dy[i] : 0 }
            }
        }
    }

    /// SUM: the weighted sum of the tangents; PROD: the product rule; MAX: the winner's tangent.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let dy = topTangent[0].data, count = top[0].count
        switch operation {
        case .sum:
            for i in 0..<count { dy[i] = 0 }
            for (index, tangent) in bottomTangent.enumerated() {
                let c = coefficient(index), dx = tangent.data
                for i in 0..<count { dy[i] += c * dx[i] }
            }
        case .prod:
            for i in 0..<count {
                var sum: Float = 0
                for (index, tangent) in bottomTangent.enumerated() {
                    var others: Float = 1
                    for (j, other) in bottom.enumerated() where j != index { others *= other.data[i] }
                    sum += tangent.data[i] * others
                }
                dy[i] = sum
            }
        case .max:
            for i in 0..<count { dy[i] = bottomTangent[Int(winners[i])].data[i] }
        }
    }
}

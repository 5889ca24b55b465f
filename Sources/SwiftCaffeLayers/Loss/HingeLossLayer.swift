import SwiftCaffeCore
import SwiftCaffeSpec

/// One-versus-all hinge loss (Caffe's `HingeLoss`): with y = +1 for the label's class and −1
/// for the others, loss = Σ max(0, 1 − y·x) / N (`norm: L1`, default) or Σ max(0, 1 − y·x)² / N
/// (`norm: L2`). Bottoms: scores N×C and labels N.
public final class HingeLossLayer: Layer, LabelConsumer, TangentLayer {
    public enum Norm: String, CaseIterable { case l1 = "L1", l2 = "L2" }

    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...2 }
    public static var isLoss: Bool { true }
    public var ignoreLabel: Int? { nil }
    public private(set) var classCount = 0
    let norm: Norm
    private var batch = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        norm = Norm(rawValue: try spec.choice("norm", from: Norm.allCases.map(\.rawValue), default: "L1"))!
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        batch = bottom[0].shape.first ?? 1
        classCount = bottom[0].count / max(batch, 1)
        guard bottom[1].count == batch else { throw error("\(batch) score rows but \(bottom[1].count) labels") }
        try top[0].reshape([])
    }

    private func margin(_ x: UnsafeMutablePointer<Float>, _ labels: UnsafeMutablePointer<Float>, _ n: Int, _ c: Int) -> (margin: Float, sign: Float) {
        let sign: Float = Int(label: labels[n]) == c ? 1 : -1
        return (max(0, 1 - sign * x[n * classCount + c]), sign)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        var loss: Float = 0
        for n in 0..<batch {
            for c in 0..<classCount {
                let m = margin(bottom[0].data, bottom[1].data, n, c).margin
                loss += norm == .l1 ? m : m * m
            }
        }
        top[0].data[0] = loss / Float(batch)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let scale = top[0].diff[0] / Float(batch), dx = bottom[0].diff
        for n in 0..<batch {
            for c in 0..<classCount {
                let (m, sign) = margin(bottom[0].data, bottom[1].data, n, c)
                dx[n * classCount + c] = m > 0 ? -sign * scale * (norm == .l1 ? 1 : 2 * m) : 0
            }
        }
    }

    /// L̇ = Σ over positive margins of −y·(1 or 2·margin)·ẋ / N.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let dx = bottomTangent[0].data
        var sum: Float = 0
        for n in 0..<batch {
            for c in 0..<classCount {
                let (m, sign) = margin(bottom[0].data, bottom[1].data, n, c)
                if m > 0 { sum -= sign * (norm == .l1 ? 1 : 2 * m) * dx[n * classCount + c] }
            }
        }
        topTangent[0].data[0] = sum / Float(batch)
    }
}

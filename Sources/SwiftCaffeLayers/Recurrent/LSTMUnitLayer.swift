import SwiftCaffeCore
import SwiftCaffeSpec

/// One LSTM step (Caffe's `LSTMUnit`): bottoms c_prev (1×N×H), gate pre-activations
/// (1×N×4H, in the order i, f, o, g) and cont (1×N); tops c and h (1×N×H). See `LSTMCell`
/// for the equations. It has no parameters: the gates come from InnerProduct layers, so a
/// hand-unrolled recurrent net can be written from it. cont receives no gradient (Caffe
/// refuses to compute one); c_prev and the gates do.
public final class LSTMUnitLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 3...3 }
    public static var topCount: ClosedRange<Int> { 2...2 }
    /// The gate activations of the last forward pass, which backward and forward mode read.
    private let activations = Blob()
    private var streams = 0, units = 0

    public init(spec: LayerSpec, context: LayerContext) throws { self.spec = spec }

    public var forwardFLOPs: Int { streams * units * 30 }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let previousCell = bottom[0], gates = bottom[1], cont = bottom[2]
        guard previousCell.shape.count == 3, previousCell.shape[0] == 1 else {
            throw error("c_prev '\(previousCell.name)' is \(previousCell.shapeDescription); expected 1×N×H", hint: "one time step of N streams of H cells")
        }
        streams = previousCell.shape[1]
        units = previousCell.shape[2]
        guard gates.shape == [1, streams, 4 * units] else {
            throw error("gates '\(gates.name)' are \(gates.shapeDescription); expected 1×\(streams)×\(4 * units) (four gates of \(units) cells per stream)",
                        hint: "give the InnerProduct that computes them num_output: \(4 * units) and axis: 2")
        }
        guard cont.shape == [1, streams] else {
            throw error("cont '\(cont.name)' is \(cont.shapeDescription); expected 1×\(streams), one marker per stream")
        }
        try activations.reshape(gates.shape)
        try top[0].reshape(previousCell.shape)
        try top[1].reshape(previousCell.shape)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        activations.data.update(from: bottom[1].data, count: activations.count)
        LSTMCell.forward(gates: activations.data, cont: bottom[2].data, previousCell: bottom[0].data,
                         cell: top[0].data, hidden: top[1].data, streams: 0..<streams, units: units)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        if bottom[2].needsGradient { bottom[2].zeroDiff() }
        guard bottom[0].needsGradient || bottom[1].needsGradient else { return }
        LSTMCell.backward(gates: activations.data, cont: bottom[2].data, previousCell: bottom[0].data, cell: top[0].data,
                          hiddenDiff: top[1].diff, cellDiff: top[0].diff, gateDiff: bottom[1].diff,
                          previousCellDiff: bottom[0].needsGradient ? bottom[0].diff : nil, streams: 0..<streams, units: units)
    }

    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        LSTMCell.tangent(gates: activations.data, cont: bottom[2].data, previousCell: bottom[0].data, cell: top[0].data,
                         gateTangent: bottomTangent[1].data, previousCellTangent: bottomTangent[0].data,
                         cellTangent: topTangent[0].data, hiddenTangent: topTangent[1].data, streams: 0..<streams, units: units)
    }
}

import Foundation
import SwiftCaffeCore

/// The cell a `RecurrentLayer` applies at every time step: Caffe's `RNN` and `LSTM` differ
/// only here. A step reads the gate pre-activations (already W·x + b + W_h·(cont·h_prev)) of
/// N streams and writes the new hidden state h (and, for a cell with memory, c).
///
/// The pointers are to one time step: `gates` N×(gatesPerUnit·H), the states N×H, `cont` N.
/// A cell without memory never touches `previousCell`/`cell` or their gradients and tangents.
public protocol RecurrentCell {
    /// Gate pre-activations per hidden unit: 4 for an LSTM (i, f, o, g), 1 for an RNN.
    static var gatesPerUnit: Int { get }
    /// Whether the cell carries a memory c beside h (exposed after h with `expose_hidden`).
    static var hasMemory: Bool { get }
    /// Whether the layer's top is Caffe's RNN output o = tanh(W_ho·h + b_o) rather than h.
    static var hasOutputTransform: Bool { get }
    /// Caffe's names of the parameters, in Caffe's order: input weights, bias, static input
    /// weights (only with a static input), recurrent weights, then any output transform's.
    static var parameterNames: (input: String, bias: String, staticInput: String, recurrent: String) { get }

    /// Replaces `gates` by their activations and writes h (and c).
    static func forward(gates: UnsafeMutablePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                        cell: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>, streams: Range<Int>, units: Int)
    /// From h's gradient (and c's, which `previousCellDiff` may overwrite in place), writes the
    /// gates' pre-activation gradient (and c_prev's).
    static func backward(gates: UnsafePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                         cell: UnsafePointer<Float>, hiddenDiff: UnsafePointer<Float>, cellDiff: UnsafePointer<Float>?,
                         gateDiff: UnsafeMutablePointer<Float>, previousCellDiff: UnsafeMutablePointer<Float>?,
                         streams: Range<Int>, units: Int)
    /// Forward mode: from the gates' pre-activation tangents (and c_prev's), writes h's (and c's).
    static func tangent(gates: UnsafePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                        cell: UnsafePointer<Float>, gateTangent: UnsafePointer<Float>, previousCellTangent: UnsafePointer<Float>,
                        cellTangent: UnsafeMutablePointer<Float>, hiddenTangent: UnsafeMutablePointer<Float>,
                        streams: Range<Int>, units: Int)
}

extension LSTMCell: RecurrentCell {
    public static var gatesPerUnit: Int { 4 }
    public static var hasMemory: Bool { true }
    public static var hasOutputTransform: Bool { false }
    public static var parameterNames: (input: String, bias: String, staticInput: String, recurrent: String) {
        ("W_xc", "b_c", "W_xc_static", "W_hc")
    }
}

/// Caffe's `RNN` cell: h = tanh(W_xh·x + b_h + W_hh·(cont·h_prev)); the layer's top is then
/// o = tanh(W_ho·h + b_o). The gate activation is h itself.
public enum RNNCell: RecurrentCell {
    public static var gatesPerUnit: Int { 1 }
    public static var hasMemory: Bool { false }
    public static var hasOutputTransform: Bool { true }
    public static var parameterNames: (input: String, bias: String, staticInput: String, recurrent: String) {
        ("W_xh", "b_h", "W_xh_static", "W_hh")
    }

    public static func forward(gates: UnsafeMutablePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                               cell: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>, streams: Range<Int>, units: Int) {
        let first = streams.lowerBound * units, count = streams.count * units
        VectorMath.tanh(gates + first, into: gates + first, count: count)
        (hidden + first).update(from: gates + first, count: count)
    }

    public static func backward(gates: UnsafePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                                cell: UnsafePointer<Float>, hiddenDiff: UnsafePointer<Float>, cellDiff: UnsafePointer<Float>?,
                                gateDiff: UnsafeMutablePointer<Float>, previousCellDiff: UnsafeMutablePointer<Float>?,
                                streams: Range<Int>, units: Int) {
        for index in (streams.lowerBound * units)..<(streams.upperBound * units) {
            gateDiff[index] = hiddenDiff[index] * (1 - gates[index] * gates[index])
        }
    }

    public static func tangent(gates: UnsafePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                               cell: UnsafePointer<Float>, gateTangent: UnsafePointer<Float>, previousCellTangent: UnsafePointer<Float>,
                               cellTangent: UnsafeMutablePointer<Float>, hiddenTangent: UnsafeMutablePointer<Float>,
                               streams: Range<Int>, units: Int) {
        for index in (streams.lowerBound * units)..<(streams.upperBound * units) {
            hiddenTangent[index] = (1 - gates[index] * gates[index]) * gateTangent[index]
        }
    }
}

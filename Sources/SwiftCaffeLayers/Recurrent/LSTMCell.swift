import Foundation
import SwiftCaffeCore

/// One step of Caffe's LSTM cell over a range of streams, shared by the `LSTMUnit` and `LSTM`
/// layers. Each stream's gate pre-activations come in Caffe's order [i′ | f′ | o′ | g′], each
/// `units` wide:
///
///     i = σ(i′)   f = σ(f′)   o = σ(o′)   g = tanh(g′)
///     c = cont·f·c_prev + i·g        h = o·tanh(c)
///
/// `cont` (one value per stream) is 1 inside a sequence and 0 where a new one starts: then
/// c_prev is forgotten and, through the same product, receives no gradient. `forward` keeps
/// the gate activations in place of the pre-activations; `backward` and `tangent` read them.
public enum LSTMCell {
    /// Replaces `gates` by their activations and writes c and h.
    public static func forward(gates: UnsafeMutablePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                               cell: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>, streams: Range<Int>, units: Int) {
        for n in streams {
            let gate = gates + n * 4 * units, keep = cont[n], row = n * units
            VectorMath.sigmoid(gate, into: gate, count: 3 * units)  // i, f, o
            VectorMath.tanh(gate + 3 * units, into: gate + 3 * units, count: units)  // g
            for j in 0..<units {
                cell[row + j] = keep * gate[units + j] * previousCell[row + j] + gate[j] * gate[3 * units + j]
            }
            VectorMath.tanh(cell + row, into: hidden + row, count: units)
            for j in 0..<units { hidden[row + j] *= gate[2 * units + j] }
        }
    }

    /// From the gradients of h and c (`cellDiff` nil when c feeds nothing), writes the gradient
    /// of the gate pre-activations and, unless nil, of c_prev. `previousCellDiff` may be
    /// `cellDiff` itself: each element is read before it is written.
    public static func backward(gates: UnsafePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                         cell: UnsafePointer<Float>, hiddenDiff: UnsafePointer<Float>, cellDiff: UnsafePointer<Float>?,
                         gateDiff: UnsafeMutablePointer<Float>, previousCellDiff: UnsafeMutablePointer<Float>?,
                         streams: Range<Int>, units: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: units) { tanhCell in
        for n in streams {
            let gate = gates + n * 4 * units, gateGradient = gateDiff + n * 4 * units, keep = cont[n], row = n * units
            VectorMath.tanh(cell + row, into: tanhCell.baseAddress!, count: units)
            for j in 0..<units {
                let i = gate[j], f = gate[units + j], o = gate[2 * units + j], g = gate[3 * units + j]
                let tanhC = tanhCell[j], dh = hiddenDiff[row + j]
                let dc = (cellDiff?[row + j] ?? 0) + dh * o * (1 - tanhC * tanhC)
                gateGradient[j] = dc * g * i * (1 - i)
                gateGradient[units + j] = dc * keep * previousCell[row + j] * f * (1 - f)
                gateGradient[2 * units + j] = dh * tanhC * o * (1 - o)
                gateGradient[3 * units + j] = dc * i * (1 - g * g)
                previousCellDiff?[row + j] = dc * keep * f
            }
        }
        }
    }

    /// Forward mode: from the gates' pre-activation tangents and c_prev's tangent, writes the
    /// tangents of c and h (cont is a marker and has none).
    public static func tangent(gates: UnsafePointer<Float>, cont: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
                        cell: UnsafePointer<Float>, gateTangent: UnsafePointer<Float>, previousCellTangent: UnsafePointer<Float>,
                        cellTangent: UnsafeMutablePointer<Float>, hiddenTangent: UnsafeMutablePointer<Float>,
                        streams: Range<Int>, units: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: units) { tanhCell in
        for n in streams {
            let gate = gates + n * 4 * units, dGate = gateTangent + n * 4 * units, keep = cont[n], row = n * units
            VectorMath.tanh(cell + row, into: tanhCell.baseAddress!, count: units)
            for j in 0..<units {
                let i = gate[j], f = gate[units + j], o = gate[2 * units + j], g = gate[3 * units + j]
                let di = i * (1 - i) * dGate[j], df = f * (1 - f) * dGate[units + j]
                let dOut = o * (1 - o) * dGate[2 * units + j], dg = (1 - g * g) * dGate[3 * units + j]
                let dc = keep * (df * previousCell[row + j] + f * previousCellTangent[row + j]) + di * g + i * dg
                let tanhC = tanhCell[j]
                cellTangent[row + j] = dc
                hiddenTangent[row + j] = dOut * tanhC + o * (1 - tanhC * tanhC) * dc
            }
        }
        }
    }
}

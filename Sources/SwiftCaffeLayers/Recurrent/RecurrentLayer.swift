import Foundation
import SwiftCaffeCore
import SwiftCaffeSpec

/// Caffe's recurrent layers, `RNN` and `LSTM` (`RecurrentLayer<RNNCell>`, `RecurrentLayer<LSTMCell>`):
/// the same cell applied at each of T time steps to N independent streams.
///
/// Bottoms, as in Caffe: `x` (T×N×…, features flattened from axis 2), `cont` (T×N: 0 where a
/// sequence starts, 1 where it continues), optionally a static input `x_static` (N×…, added to
/// every step's gates), and with `expose_hidden: true` the initial states h_0 (and c_0 for an
/// LSTM), each 1×N×num_output. Tops: h (LSTM) or o (RNN), T×N×num_output, then with
/// `expose_hidden` the final states h_T (and c_T).
///
/// Keys (Caffe's `recurrent_param`, flattened): `num_output`, `weight_filler`, `bias_filler`
/// (Caffe's default for both: constant 0), `expose_hidden` (default false).
///
/// Parameters in Caffe's order and shapes, so Caffe-trained weights load: input weights
/// G×D, bias G, static input weights G×S (with a static input only), recurrent weights G×H
/// where G = 4H for an LSTM (gates i, f, o, g) and H for an RNN, then an RNN's output
/// weights H×H and bias H.
///
/// Without `expose_hidden` each forward pass starts from the previous pass's final state,
/// as Caffe's does: with cont = 1 at the first step a stream carries on across batches
/// (truncated back-propagation through time), with 0 it starts afresh. That state is saved
/// in snapshots, so a resumed run continues exactly.
///
/// Where this departs from Caffe: Caffe's unrolled net shares only the *values* of exposed
/// states, so no gradient reaches h_0/c_0 and the diffs of h_T/c_T are dropped. Here both
/// carry their exact gradients (a net that feeds one LSTM's final state into another's
/// initial state trains both); where h_0 comes from data, nothing changes. `cont` gets no
/// gradient, as in Caffe.
///
/// The steps run as one GEMM for all input projections, then per step one GEMM with the
/// recurrent weights and the cell's element-wise update; backward runs the steps in
/// reverse and computes the weight gradients as single GEMMs over all steps at the end.
public final class RecurrentLayer<Cell: RecurrentCell>: Layer, TangentLayer, StatefulLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...(3 + stateCount) }
    public static var topCount: ClosedRange<Int> { 1...(1 + stateCount) }
    /// h, and c for a cell with memory.
    static var stateCount: Int { Cell.hasMemory ? 2 : 1 }
    static var stateNames: [String] { Cell.hasMemory ? ["h", "c"] : ["h"] }

    let numOutput: Int
    let weightFiller: FillerSpec
    let biasFiller: FillerSpec
    let exposeHidden: Bool
    let context: LayerContext

    private var steps = 0, streams = 0, inputs = 0, staticInputs = 0
    private var units: Int { numOutput }
    private var gateWidth: Int { Cell.gatesPerUnit * numOutput }
    private var hasStaticInput: Bool { staticInputs > 0 }
    /// Parameter indices: 0 input weights, 1 bias, then these.
    private var staticWeightIndex: Int { 2 }
    private var recurrentWeightIndex: Int { hasStaticInput ? 3 : 2 }
    private var outputWeightIndex: Int { recurrentWeightIndex + 1 }
    /// Bottom index of h_0 with `expose_hidden`.
    private var firstStateBottom: Int { hasStaticInput ? 3 : 2 }

    /// T×N×G gate activations of the last forward pass.
    private let gates = Blob()
    /// N×G: the static input's contribution to every step's gates.
    private let staticGates = Blob()
    /// (T+1)×N×H: h_0 … h_T, and c_0 … c_T for a cell with memory.
    private let hidden = Blob(), memory = Blob()
    /// T×N×H: cont_t·h_(t−1), what the recurrent weights multiply at step t.
    private let contedHidden = Blob()
    /// Work buffers that backward and forward mode share (the adjoint test runs one after the
    /// other, never both at once), shaped at set-up so that a net that does not fit fails
    /// there rather than in the middle of a pass:
    /// - per step's gates, T×N×G: their gradients, or their tangents;
    /// - per state, (T+1)×N×H: h's gradients or tangents; c's tangents (backward keeps only
    ///   c's running gradient, in the first N×H);
    /// - N×H: the conted hidden state's gradient or tangent at one step;
    /// - N×G: the static gates' gradient or tangent;
    /// - T×N×H: the gradient of an RNN's output pre-activation.
    private let gateWork = Blob(), hiddenWork = Blob(), memoryWork = Blob(), contedWork = Blob()
    private let staticWork = Blob(), outputWork = Blob()

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        numOutput = try spec.int("num_output", in: 1...(1 << 16))
        weightFiller = try spec.filler("weight_filler", default: .zero)
        biasFiller = try spec.filler("bias_filler", default: .zero)
        exposeHidden = try spec.bool("expose_hidden", default: false)
    }

    public var forwardFLOPs: Int {
        let projections = 2 * steps * streams * gateWidth * (inputs + units) + 2 * streams * gateWidth * staticInputs
        let output = Cell.hasOutputTransform ? 2 * steps * streams * units * units : 0
        return projections + output + steps * streams * gateWidth * 8
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let stateCount = Self.stateCount, names = Self.stateNames
        let exposed = exposeHidden ? stateCount : 0
        guard bottom.count == 2 + exposed || bottom.count == 3 + exposed else {
            let expected = exposeHidden ? "x, cont, [x_static,] " + names.map { $0 + "_0" }.joined(separator: ", ") : "x, cont[, x_static]"
            throw error("\(bottom.count) bottoms; expected \(expected)",
                        hint: exposeHidden ? "with expose_hidden the initial states come after x, cont and the optional static input"
                                           : "set expose_hidden: true to pass initial states")
        }
        guard top.count == 1 + exposed else {
            throw error("\(top.count) tops; expected \(exposeHidden ? "the output and " + names.map { $0 + "_T" }.joined(separator: ", ") : "one (the output)")",
                        hint: exposeHidden ? nil : "set expose_hidden: true to get the final states as tops")
        }
        let x = bottom[0], cont = bottom[1]
        guard x.shape.count >= 2 else {
            throw error("x '\(x.name)' is \(x.shapeDescription); expected T×N×… (time steps, streams, features)",
                        hint: "a Permute or Reshape layer can put the time axis first")
        }
        steps = x.shape[0]
        streams = x.shape[1]
        inputs = x.count(from: 2)
        guard steps > 0, streams > 0, inputs > 0 else { throw error("x '\(x.name)' is \(x.shapeDescription), which holds no values") }
        guard cont.shape == [steps, streams] else {
            throw error("cont '\(cont.name)' is \(cont.shapeDescription); expected \(steps)×\(streams), one marker per time step and stream of x")
        }
        staticInputs = 0
        if bottom.count == 3 + exposed {
            let xStatic = bottom[2]
            guard xStatic.shape.first == streams, xStatic.count > 0 else {
                throw error("x_static '\(xStatic.name)' is \(xStatic.shapeDescription); expected \(streams)×…, one row per stream")
            }
            staticInputs = xStatic.count(from: 1)
        }
        if exposeHidden {
            for (offset, name) in names.enumerated() {
                let state = bottom[firstStateBottom + offset]
                guard state.shape == [1, streams, units] else {
                    throw error("\(name)_0 '\(state.name)' is \(state.shapeDescription); expected 1×\(streams)×\(units)")
                }
            }
        }
        let caffeNames = Cell.parameterNames
        params = [try context.parameter(name, caffeNames.input, shape: [gateWidth, inputs], filler: weightFiller),
                  try context.parameter(name, caffeNames.bias, shape: [gateWidth], filler: biasFiller)]
        if hasStaticInput { params.append(try context.parameter(name, caffeNames.staticInput, shape: [gateWidth, staticInputs], filler: weightFiller)) }
        params.append(try context.parameter(name, caffeNames.recurrent, shape: [gateWidth, units], filler: weightFiller))
        if Cell.hasOutputTransform {
            params.append(try context.parameter(name, "W_ho", shape: [units, units], filler: weightFiller))
            params.append(try context.parameter(name, "b_o", shape: [units], filler: biasFiller))
        }
        try gates.reshape([steps, streams, gateWidth])
        try staticGates.reshape([hasStaticInput ? streams : 0, gateWidth])
        try hidden.reshape([steps + 1, streams, units])
        try memory.reshape([Cell.hasMemory ? steps + 1 : 0, streams, units])
        try contedHidden.reshape([steps, streams, units])
        try gateWork.reshape(gates.shape)
        try hiddenWork.reshape(hidden.shape)
        try memoryWork.reshape([Cell.hasMemory ? steps + 1 : 1, streams, units])
        try contedWork.reshape([streams, units])
        try staticWork.reshape(staticGates.shape)
        try outputWork.reshape([Cell.hasOutputTransform ? steps : 0, streams, units])
        try top[0].reshape([steps, streams, units])
        for index in 1..<top.count { try top[index].reshape([1, streams, units]) }
    }

    // MARK: Pointers to one time step

    private var stateSize: Int { streams * units }
    private func hiddenAt(_ t: Int) -> UnsafeMutablePointer<Float> { hidden.data + t * stateSize }
    /// A cell without memory never reads these; they point at the (empty) buffer's start.
    private func memoryAt(_ t: Int) -> UnsafeMutablePointer<Float> { memory.data + (Cell.hasMemory ? t * stateSize : 0) }
    private func gatesAt(_ t: Int) -> UnsafeMutablePointer<Float> { gates.data + t * streams * gateWidth }
    private func contAt(_ t: Int, _ cont: Blob) -> UnsafeMutablePointer<Float> { cont.data + t * streams }

    /// target[n, :] = cont[n] · source[n, :] for each stream.
    private func scaleRows(_ source: UnsafePointer<Float>, by cont: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>) {
        for n in 0..<streams {
            let keep = cont[n]
            for j in 0..<units { target[n * units + j] = keep * source[n * units + j] }
        }
    }

    /// Every row of the rows×width matrix `target` set to `row`.
    private func fillRows(_ target: UnsafeMutablePointer<Float>, rows: Int, with row: UnsafePointer<Float>, width: Int) {
        for r in 0..<rows { (target + r * width).update(from: row, count: width) }
    }

    private func addRows(_ target: UnsafeMutablePointer<Float>, rows: Int, _ row: UnsafePointer<Float>, width: Int) {
        for r in 0..<rows { for j in 0..<width { target[r * width + j] += row[j] } }
    }

    // MARK: Forward

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0], cont = bottom[1], size = stateSize
        // Initial states: given, or the last pass's final ones (zeros before the first pass).
        if exposeHidden {
            hiddenAt(0).update(from: bottom[firstStateBottom].data, count: size)
            if Cell.hasMemory { memoryAt(0).update(from: bottom[firstStateBottom + 1].data, count: size) }
        } else {
            hiddenAt(0).update(from: hiddenAt(steps), count: size)
            if Cell.hasMemory { memoryAt(0).update(from: memoryAt(steps), count: size) }
        }
        // All steps' input projections at once: gates = x·W_xᵀ + b (+ W_s·x_static).
        fillRows(gates.data, rows: steps * streams, with: params[1].data, width: gateWidth)
        BLAS.parallelGemm(transposeB: true, m: steps * streams, n: gateWidth, k: inputs, a: x.data, b: params[0].data, beta: 1, c: gates.data)
        if hasStaticInput {
            BLAS.parallelGemm(transposeB: true, m: streams, n: gateWidth, k: staticInputs, a: bottom[2].data,
                              b: params[staticWeightIndex].data, c: staticGates.data)
            for t in 0..<steps { addRows(gatesAt(t), rows: 1, staticGates.data, width: streams * gateWidth) }
        }
        let recurrentWeights = params[recurrentWeightIndex].data
        for t in 0..<steps {
            let conted = contedHidden.data + t * size, stepGates = gatesAt(t), stepCont = contAt(t, cont)
            scaleRows(hiddenAt(t), by: stepCont, into: conted)
            BLAS.parallelGemm(transposeB: true, m: streams, n: gateWidth, k: units, a: conted, b: recurrentWeights, beta: 1, c: stepGates)
            let previousCell = memoryAt(t), cell = memoryAt(t + 1), nextHidden = hiddenAt(t + 1), units = units
            Parallel.forChunks(of: streams, minimumPerChunk: max(1, 4096 / gateWidth)) { _, range in
                Cell.forward(gates: stepGates, cont: stepCont, previousCell: previousCell, cell: cell, hidden: nextHidden, streams: range, units: units)
            }
        }
        writeOutput(top[0])
        if exposeHidden {
            top[1].data.update(from: hiddenAt(steps), count: size)
            if Cell.hasMemory { top[2].data.update(from: memoryAt(steps), count: size) }
        }
    }

    /// The top: h_1 … h_T, or an RNN's o = tanh(W_ho·h + b_o).
    private func writeOutput(_ output: Blob) {
        let count = steps * stateSize
        guard Cell.hasOutputTransform else {
            output.data.update(from: hiddenAt(1), count: count)
            return
        }
        let o = output.data
        fillRows(o, rows: steps * streams, with: params[outputWeightIndex + 1].data, width: units)
        BLAS.parallelGemm(transposeB: true, m: steps * streams, n: units, k: units, a: hiddenAt(1), b: params[outputWeightIndex].data, beta: 1, c: o)
        VectorMath.tanh(o, into: o, count: count)
    }

    // MARK: Backward

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let x = bottom[0], cont = bottom[1], size = stateSize, G = gateWidth, rows = steps * streams
        let dHidden = hiddenWork.data, dMemory = memoryWork.data
        dHidden.update(repeating: 0, count: size)
        if Cell.hasOutputTransform {
            // o = tanh(a), a = h·W_oᵀ + b_o: da = do·(1 − o²), then W_o, b_o and h.
            let da = outputWork.data, o = top[0].data, dO = top[0].diff
            for i in 0..<(rows * units) { da[i] = dO[i] * (1 - o[i] * o[i]) }
            BLAS.parallelGemm(transposeA: true, m: units, n: units, k: rows, a: da, b: hiddenAt(1), beta: 1, c: params[outputWeightIndex].diff)
            sumRows(da, rows: rows, width: units, into: params[outputWeightIndex + 1].diff)
            BLAS.parallelGemm(m: rows, n: units, k: units, a: da, b: params[outputWeightIndex].data, c: dHidden + size)
        } else {
            (dHidden + size).update(from: top[0].diff, count: rows * units)
        }
        dMemory.update(repeating: 0, count: size)
        if exposeHidden {
            let dFinal = top[1].diff, last = dHidden + steps * size
            for i in 0..<size { last[i] += dFinal[i] }
            if Cell.hasMemory { dMemory.update(from: top[2].diff, count: size) }
        }
        // Back through the steps: each step's gate gradient, then what it sends to h_(t−1)
        // through the recurrent weights (cut where cont is 0) and to c_(t−1) through the cell.
        let recurrentWeights = params[recurrentWeightIndex].data, dConted = contedWork.data, units = units
        for t in (0..<steps).reversed() {
            let stepGates = gatesAt(t), stepCont = contAt(t, cont), dGates = gateWork.data + t * streams * G
            let previousCell = memoryAt(t), cell = memoryAt(t + 1), dNext = dHidden + (t + 1) * size
            Parallel.forChunks(of: streams, minimumPerChunk: max(1, 4096 / G)) { _, range in
                Cell.backward(gates: stepGates, cont: stepCont, previousCell: previousCell, cell: cell, hiddenDiff: dNext,
                              cellDiff: dMemory, gateDiff: dGates, previousCellDiff: dMemory, streams: range, units: units)
            }
            BLAS.parallelGemm(m: streams, n: units, k: G, a: dGates, b: recurrentWeights, c: dConted)
            let dPrevious = dHidden + t * size
            for n in 0..<streams {
                let keep = stepCont[n]
                for j in 0..<units { dPrevious[n * units + j] += keep * dConted[n * units + j] }
            }
        }
        // Weight gradients over all steps at once.
        BLAS.parallelGemm(transposeA: true, m: G, n: inputs, k: rows, a: gateWork.data, b: x.data, beta: 1, c: params[0].diff)
        sumRows(gateWork.data, rows: rows, width: G, into: params[1].diff)
        BLAS.parallelGemm(transposeA: true, m: G, n: units, k: rows, a: gateWork.data, b: contedHidden.data, beta: 1, c: params[recurrentWeightIndex].diff)
        if cont.needsGradient { cont.zeroDiff() }  // a marker, not differentiated (as in Caffe)
        if x.needsGradient {
            BLAS.parallelGemm(m: rows, n: inputs, k: G, a: gateWork.data, b: params[0].data, c: x.diff)
        }
        if hasStaticInput {
            // The static gates feed every step: their gradient is the sum over steps.
            let dStatic = staticWork.data
            dStatic.update(from: gateWork.data, count: streams * G)
            for t in 1..<steps { let d = gateWork.data + t * streams * G; for i in 0..<(streams * G) { dStatic[i] += d[i] } }
            let xStatic = bottom[2]
            BLAS.parallelGemm(transposeA: true, m: G, n: staticInputs, k: streams, a: dStatic, b: xStatic.data, beta: 1, c: params[staticWeightIndex].diff)
            if xStatic.needsGradient {
                BLAS.parallelGemm(m: streams, n: staticInputs, k: G, a: dStatic, b: params[staticWeightIndex].data, c: xStatic.diff)
            }
        }
        if exposeHidden {
            let initialHidden = bottom[firstStateBottom]
            if initialHidden.needsGradient { initialHidden.diff.update(from: dHidden, count: size) }
            if Cell.hasMemory, bottom[firstStateBottom + 1].needsGradient { bottom[firstStateBottom + 1].diff.update(from: dMemory, count: size) }
        }
    }

    /// target[j] += Σ_r source[r, j].
    private func sumRows(_ source: UnsafePointer<Float>, rows: Int, width: Int, into target: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { for j in 0..<width { target[j] += source[r * width + j] } }
    }

    // MARK: Forward mode

    /// The same recurrence on tangents: each step's gate tangent is the input projection's
    /// tangent plus W_h·(cont·ḣ_(t−1)) (plus Ẇ_h·(cont·h_(t−1)) when the parameters move),
    /// then the cell's own tangent. An initial state that is not exposed is a constant.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let x = bottom[0], cont = bottom[1], size = stateSize, G = gateWidth, rows = steps * streams
        let dGatesAll = gateWork.data, dHidden = hiddenWork.data
        func dMemoryAt(_ t: Int) -> UnsafeMutablePointer<Float> { memoryWork.data + (Cell.hasMemory ? t * size : 0) }
        if exposeHidden {
            dHidden.update(from: bottomTangent[firstStateBottom].data, count: size)
            if Cell.hasMemory { dMemoryAt(0).update(from: bottomTangent[firstStateBottom + 1].data, count: size) }
        } else {
            dHidden.update(repeating: 0, count: size)
            if Cell.hasMemory { dMemoryAt(0).update(repeating: 0, count: size) }
        }
        BLAS.parallelGemm(transposeB: true, m: rows, n: G, k: inputs, a: bottomTangent[0].data, b: params[0].data, c: dGatesAll)
        if let parameterTangent {
            BLAS.parallelGemm(transposeB: true, m: rows, n: G, k: inputs, a: x.data, b: parameterTangent[0].data, beta: 1, c: dGatesAll)
            addRows(dGatesAll, rows: rows, parameterTangent[1].data, width: G)
        }
        if hasStaticInput {
            let dStatic = staticWork.data
            BLAS.parallelGemm(transposeB: true, m: streams, n: G, k: staticInputs, a: bottomTangent[2].data,
                              b: params[staticWeightIndex].data, c: dStatic)
            if let parameterTangent {
                BLAS.parallelGemm(transposeB: true, m: streams, n: G, k: staticInputs, a: bottom[2].data,
                                  b: parameterTangent[staticWeightIndex].data, beta: 1, c: dStatic)
            }
            for t in 0..<steps { addRows(dGatesAll + t * streams * G, rows: 1, dStatic, width: streams * G) }
        }
        let recurrentWeights = params[recurrentWeightIndex].data, dConted = contedWork.data, units = units
        for t in 0..<steps {
            let stepCont = contAt(t, cont), dGates = dGatesAll + t * streams * G
            scaleRows(dHidden + t * size, by: stepCont, into: dConted)
            BLAS.parallelGemm(transposeB: true, m: streams, n: G, k: units, a: dConted, b: recurrentWeights, beta: 1, c: dGates)
            if let parameterTangent {
                BLAS.parallelGemm(transposeB: true, m: streams, n: G, k: units, a: contedHidden.data + t * size,
                                  b: parameterTangent[recurrentWeightIndex].data, beta: 1, c: dGates)
            }
            Cell.tangent(gates: gatesAt(t), cont: stepCont, previousCell: memoryAt(t), cell: memoryAt(t + 1), gateTangent: dGates,
                         previousCellTangent: dMemoryAt(t), cellTangent: dMemoryAt(t + 1), hiddenTangent: dHidden + (t + 1) * size,
                         streams: 0..<streams, units: units)
        }
        let output = topTangent[0].data
        if Cell.hasOutputTransform {
            // ȯ = (1 − o²)·(ḣ·W_oᵀ + h·Ẇ_oᵀ + ḃ_o)
            BLAS.parallelGemm(transposeB: true, m: rows, n: units, k: units, a: dHidden + size, b: params[outputWeightIndex].data, c: output)
            if let parameterTangent {
                BLAS.parallelGemm(transposeB: true, m: rows, n: units, k: units, a: hiddenAt(1), b: parameterTangent[outputWeightIndex].data, beta: 1, c: output)
                addRows(output, rows: rows, parameterTangent[outputWeightIndex + 1].data, width: units)
            }
            let o = top[0].data
            for i in 0..<(rows * units) { output[i] *= 1 - o[i] * o[i] }
        } else {
            output.update(from: dHidden + size, count: rows * units)
        }
        if exposeHidden {
            topTangent[1].data.update(from: dHidden + steps * size, count: size)
            if Cell.hasMemory { topTangent[2].data.update(from: dMemoryAt(steps), count: size) }
        }
    }

    // MARK: Carried state

    /// The final state of the last pass, which the next pass starts from (without `expose_hidden`).
    public func saveState() -> LayerState {
        var state = LayerState()
        state.values["streams"] = "\(streams)"
        guard !exposeHidden else { return state }
        state.arrays["h"] = Array(UnsafeBufferPointer(start: hiddenAt(steps), count: stateSize))
        if Cell.hasMemory { state.arrays["c"] = Array(UnsafeBufferPointer(start: memoryAt(steps), count: stateSize)) }
        return state
    }

    public func restoreState(_ state: LayerState) throws {
        guard !exposeHidden else { return }
        let names = Self.stateNames
        let arrays = names.compactMap { state.arrays[$0] }
        guard arrays.count == names.count, arrays.allSatisfy({ $0.count == stateSize }) else {
            throw error("the saved hidden state does not fit this layer (\(streams) streams of \(units) units)",
                        hint: "resume with the net file the snapshot was trained with")
        }
        arrays[0].withUnsafeBufferPointer { hiddenAt(steps).update(from: $0.baseAddress!, count: stateSize) }
        if Cell.hasMemory { arrays[1].withUnsafeBufferPointer { memoryAt(steps).update(from: $0.baseAddress!, count: stateSize) } }
    }
}

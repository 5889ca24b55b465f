import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// RNN, LSTM and LSTMUnit: finite differences and the adjoint test over several steps, a
/// reference implementation of Caffe's equations, and the carried and exposed states.
@Suite struct RecurrentTests {
    static let steps = 4, streams = 3, features = 2, units = 3

    /// Markers with a new sequence starting inside the batch (stream 2 at step 1, stream 1 at
    /// step 2) as well as at step 0.
    static func cont(steps: Int = steps, streams: Int = streams, first: Float = 0) -> Blob {
        let blob = Blob(name: "cont", shape: [steps, streams])
        for t in 0..<steps { for n in 0..<streams { blob.data[t * streams + n] = t == 0 ? first : 1 } }
        if steps > 2 && streams > 2 {
            blob.data[1 * streams + 2] = 0
            blob.data[2 * streams + 1] = 0
        }
        return blob
    }

    static func yaml(_ type: String, units: Int = units, extra: String = "") -> String {
        "{name: r, type: \(type), num_output: \(units), weight_filler: {type: uniform, min: -0.6, max: 0.6}, "
            + "bias_filler: {type: uniform, min: -0.3, max: 0.3}\(extra)}"
    }

    /// Bottoms for each variant: x, cont, then a static input and the initial states if asked.
    static func bottoms(_ type: String, staticInput: Bool, exposeHidden: Bool, first: Float = 0) -> [Blob] {
        var blobs = [randomBlob([steps, streams, features], seed: 21, name: "x"), cont(first: first)]
        if staticInput { blobs.append(randomBlob([streams, 2], seed: 22, name: "x_static")) }
        if exposeHidden {
            blobs.append(randomBlob([1, streams, units], seed: 23, range: -0.5...0.5, name: "h_0"))
            if type == "LSTM" { blobs.append(randomBlob([1, streams, units], seed: 24, range: -0.5...0.5, name: "c_0")) }
        }
        return blobs
    }

    static let variants: [(String, Bool, Bool)] = ["RNN", "LSTM"].flatMap { type in
        [(type, false, false), (type, true, false), (type, false, true), (type, true, true)]
    }

    @Test(arguments: variants)
    func gradientsMatchFiniteDifferences(type: String, staticInput: Bool, exposeHidden: Bool) throws {
        let layer = try makeLayer(Self.yaml(type, extra: exposeHidden ? ", expose_hidden: true" : ""))
        let bottom = Self.bottoms(type, staticInput: staticInput, exposeHidden: exposeHidden)
        let tops = 1 + (exposeHidden ? (type == "LSTM" ? 2 : 1) : 0)
        let results = try expectGradientsMatch(layer, bottom: bottom, topCount: tops)
        // x, the static input and the initial states are checked; cont never is.
        let bottomsChecked = results.filter { $0.blob.hasPrefix("bottom") }.map(\.blob)
        #expect(bottomsChecked.count == bottom.count - 1 && !bottomsChecked.contains("bottom 1"), "\(bottomsChecked)")
        let parameterCount = (type == "RNN" ? 5 : 3) + (staticInput ? 1 : 0)
        #expect(layer.params.count == parameterCount)
    }

    @Test(arguments: variants)
    func backwardIsTheAdjointOfForwardMode(type: String, staticInput: Bool, exposeHidden: Bool) throws {
        let layer = try makeLayer(Self.yaml(type, extra: exposeHidden ? ", expose_hidden: true" : "")) as! any TangentLayer
        let bottom = Self.bottoms(type, staticInput: staticInput, exposeHidden: exposeHidden)
        let top = (0..<(1 + (exposeHidden ? (type == "LSTM" ? 2 : 1) : 0))).map { _ in Blob() }
        try layer.setUp(bottom: bottom, top: top)
        let result = try AdjointCheck().check(layer, bottom: bottom, top: top)
        #expect(result.relativeError < 1e-5, "\(result)")
        #expect(abs(result.forwardMode) > 1e-3, "a zero test proves nothing: \(result)")
    }

    /// Caffe's equations written out in Double, one element at a time, from the layer's own
    /// parameters in Caffe's layout: gate order i, f, o, g; h_conted = cont·h_prev.
    func reference(_ type: String, x: Blob, cont: Blob, params: [Blob]) -> [Double] {
        let (T, N, D, H) = (x.shape[0], x.shape[1], x.count(from: 2), Self.units)
        let G = type == "LSTM" ? 4 * H : H
        let wx = params[0].dataArray.map(Double.init), b = params[1].dataArray.map(Double.init), wh = params[2].dataArray.map(Double.init)
        var h = [Double](repeating: 0, count: N * H), c = h, output: [Double] = []
        for t in 0..<T {
            var nextH = h, nextC = c
            for n in 0..<N {
                let keep = Double(cont.data[t * N + n])
                var gate = [Double](repeating: 0, count: G)
                for k in 0..<G {
                    gate[k] = b[k]
                    for d in 0..<D { gate[k] += wx[k * D + d] * Double(x.data[(t * N + n) * D + d]) }
                    for j in 0..<H { gate[k] += wh[k * H + j] * keep * h[n * H + j] }
                }
                for j in 0..<H {
                    if type == "LSTM" {
                        func σ(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
                        let i = σ(gate[j]), f = σ(gate[H + j]), o = σ(gate[2 * H + j]), g = Foundation.tanh(gate[3 * H + j])
                        nextC[n * H + j] = keep * f * c[n * H + j] + i * g
                        nextH[n * H + j] = o * Foundation.tanh(nextC[n * H + j])
                    } else {
                        nextH[n * H + j] = Foundation.tanh(gate[j])
                    }
                }
            }
            h = nextH
            c = nextC
            if type == "LSTM" {
                output += h
            } else {
                let wo = params[3].dataArray.map(Double.init), bo = params[4].dataArray.map(Double.init)
                for n in 0..<N {
                    for k in 0..<H {
                        var a = bo[k]
                        for j in 0..<H { a += wo[k * H + j] * h[n * H + j] }
                        output.append(Foundation.tanh(a))
                    }
                }
            }
        }
        return output
    }

    @Test(arguments: ["RNN", "LSTM"])
    func forwardFollowsCaffesEquations(type: String) throws {
        let layer = try makeLayer(Self.yaml(type))
        let x = randomBlob([Self.steps, Self.streams, Self.features], seed: 31), cont = Self.cont()
        let top = Blob()
        try layer.setUp(bottom: [x, cont], top: [top])
        try layer.forward(bottom: [x, cont], top: [top])
        let expected = reference(type, x: x, cont: cont, params: layer.params)
        #expect(top.shape == [Self.steps, Self.streams, Self.units])
        let worst = zip(top.dataArray, expected).map { abs(Double($0) - $1) }.max() ?? 1
        #expect(worst < 1e-5, "largest difference \(worst)")
    }

    /// Without expose_hidden a pass starts from the previous pass's final state (Caffe's
    /// truncated back-propagation through time): two passes of 3 steps with cont = 1 at the
    /// second pass's first step equal one pass of 6 steps; cont = 0 there starts afresh.
    @Test(arguments: ["RNN", "LSTM"])
    func stateCarriesAcrossPasses(type: String) throws {
        let whole = try makeLayer(Self.yaml(type)), halves = try makeLayer(Self.yaml(type))
        let x = randomBlob([6, 2, Self.features], seed: 41), cont = Self.cont(steps: 6, streams: 2)
        let top = Blob()
        try whole.setUp(bottom: [x, cont], top: [top])
        try whole.forward(bottom: [x, cont], top: [top])
        let expected = top.dataArray

        let half = 3 * 2 * Self.features
        let first = Blob(shape: [3, 2, Self.features]), second = Blob(shape: [3, 2, Self.features])
        first.setData(Array(x.dataArray[0..<half]))
        second.setData(Array(x.dataArray[half...]))
        let firstCont = Self.cont(steps: 3, streams: 2), secondCont = Self.cont(steps: 3, streams: 2, first: 1)
        let halfTop = Blob()
        try halves.setUp(bottom: [first, firstCont], top: [halfTop])
        for (a, b) in zip(halves.params, whole.params) { a.setData(b.dataArray) }
        try halves.forward(bottom: [first, firstCont], top: [halfTop])
        let saved = (halves as! any StatefulLayer).saveState()
        try halves.forward(bottom: [second, secondCont], top: [halfTop])
        let carried = halfTop.dataArray
        #expect(zip(carried, expected[(3 * 2 * Self.units)...]).allSatisfy { abs($0 - $1) < 1e-6 })

        // The saved state restores the same continuation; cont = 0 ignores it.
        try (halves as! any StatefulLayer).restoreState(saved)
        try halves.forward(bottom: [second, secondCont], top: [halfTop])
        #expect(halfTop.dataArray == carried)
        try halves.forward(bottom: [second, Self.cont(steps: 3, streams: 2, first: 0)], top: [halfTop])
        let fresh = halfTop.dataArray
        let freshLayer = try makeLayer(Self.yaml(type)), freshTop = Blob()
        try freshLayer.setUp(bottom: [second, secondCont], top: [freshTop])
        for (a, b) in zip(freshLayer.params, whole.params) { a.setData(b.dataArray) }
        try freshLayer.forward(bottom: [second, Self.cont(steps: 3, streams: 2, first: 0)], top: [freshTop])
        #expect(fresh == freshTop.dataArray)
        #expect(fresh != carried)
    }

    /// With expose_hidden the final states are tops and the initial states bottoms, so a
    /// sequence can be cut in two and carried by the net: the halves reproduce the whole.
    @Test func exposedStatesJoinTwoHalves() throws {
        let extra = ", expose_hidden: true"
        let whole = try makeLayer(Self.yaml("LSTM", extra: extra)), halves = try makeLayer(Self.yaml("LSTM", extra: extra))
        let x = randomBlob([6, 2, Self.features], seed: 51), cont = Self.cont(steps: 6, streams: 2)
        let zeros = { Blob(shape: [1, 2, Self.units]) }
        let top = [Blob(), Blob(), Blob()]
        try whole.setUp(bottom: [x, cont, zeros(), zeros()], top: top)
        try whole.forward(bottom: [x, cont, zeros(), zeros()], top: top)
        let half = 3 * 2 * Self.features
        let first = Blob(shape: [3, 2, Self.features]), second = Blob(shape: [3, 2, Self.features])
        first.setData(Array(x.dataArray[0..<half]))
        second.setData(Array(x.dataArray[half...]))
        let firstTops = [Blob(), Blob(), Blob()]
        try halves.setUp(bottom: [first, Self.cont(steps: 3, streams: 2), zeros(), zeros()], top: firstTops)
        for (a, b) in zip(halves.params, whole.params) { a.setData(b.dataArray) }
        try halves.forward(bottom: [first, Self.cont(steps: 3, streams: 2), zeros(), zeros()], top: firstTops)
        let finalStates = firstTops[1...].map { top in
            let copy = Blob(shape: top.shape)
            copy.setData(top.dataArray)
            return copy
        }
        let secondTops = firstTops
        try halves.forward(bottom: [second, Self.cont(steps: 3, streams: 2, first: 1)] + finalStates, top: secondTops)
        #expect(zip(secondTops[0].dataArray, top[0].dataArray[(half / Self.features * Self.units)...]).allSatisfy { abs($0 - $1) < 1e-6 })
        for slot in 1...2 { #expect(zip(secondTops[slot].dataArray, top[slot].dataArray).allSatisfy { abs($0 - $1) < 1e-6 }) }
    }

    @Test func lstmUnitIsOneStepOfTheLSTM() throws {
        // c = cont·σ(f′)·c_prev + σ(i′)·tanh(g′), h = σ(o′)·tanh(c), by hand for one cell.
        let unit = try makeLayer("{name: u, type: LSTMUnit}")
        let previous = Blob(shape: [1, 2, 1]), gates = Blob(shape: [1, 2, 4]), cont = Blob(shape: [1, 2])
        previous.setData([0.5, 0.5])
        gates.setData([0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4])
        cont.setData([1, 0])
        let c = Blob(), h = Blob()
        try unit.setUp(bottom: [previous, gates, cont], top: [c, h])
        try unit.forward(bottom: [previous, gates, cont], top: [c, h])
        func σ(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
        let fresh = σ(0.1) * Foundation.tanh(0.4), kept = σ(0.2) * 0.5 + fresh
        #expect(abs(Double(c.data[0]) - kept) < 1e-6 && abs(Double(c.data[1]) - fresh) < 1e-6)
        #expect(abs(Double(h.data[0]) - σ(0.3) * Foundation.tanh(kept)) < 1e-6)
    }

    @Test func lstmUnitGradients() throws {
        let previous = randomBlob([1, 3, 2], seed: 61), gates = randomBlob([1, 3, 8], seed: 62, range: -2...2)
        let cont = Blob(name: "cont", shape: [1, 3])
        cont.setData([1, 0, 1])
        let results = try expectGradientsMatch(try makeLayer("{name: u, type: LSTMUnit}"), bottom: [previous, gates, cont], topCount: 2)
        #expect(results.count == 2)
        let layer = try makeLayer("{name: u, type: LSTMUnit}") as! any TangentLayer
        let tops = [Blob(), Blob()]
        try layer.setUp(bottom: [previous, gates, cont], top: tops)
        let adjoint = try AdjointCheck().check(layer, bottom: [previous, gates, cont], top: tops)
        #expect(adjoint.relativeError < 1e-5, "\(adjoint)")
    }

    @Test func badShapesAreErrorsThatNameTheLayer() throws {
        let layer = try makeLayer(Self.yaml("LSTM"))
        let x = randomBlob([4, 3, 2]), wrongCont = Blob(shape: [4, 2])
        #expect(throws: SwiftCaffeError.self) { try layer.setUp(bottom: [x, wrongCont], top: [Blob()]) }
        do {
            try layer.setUp(bottom: [x, wrongCont], top: [Blob()])
        } catch let error as SwiftCaffeError {
            #expect(error.description.contains("cont") && error.description.contains("4×3"), "\(error)")
        }
        let exposed = try makeLayer(Self.yaml("LSTM", extra: ", expose_hidden: true"))
        #expect(throws: SwiftCaffeError.self) { try exposed.setUp(bottom: [x, Self.cont()], top: [Blob()]) }
        let unit = try makeLayer("{name: u, type: LSTMUnit}")
        #expect(throws: SwiftCaffeError.self) {
            try unit.setUp(bottom: [Blob(shape: [1, 3, 2]), Blob(shape: [1, 3, 6]), Blob(shape: [1, 3])], top: [Blob(), Blob()])
        }
    }

    /// What real Caffe computed for the same inputs and weights (written by
    /// scripts/caffe-reference/recurrent.py with pycaffe; see CaffeReference/README.md): the
    /// outputs, the final states, the parameter gradients of loss = Σ output·w, and a second
    /// pass that continues from the first's final state. Parameters are read in Caffe's order,
    /// so this also checks that order and the gate layout.
    @Test(arguments: ["LSTM", "LSTM_static_exposed", "RNN", "RNN_static_exposed"])
    func matchesCaffe(case name: String) throws {
        let (tensors, _) = try Safetensors.read(path: repositoryRoot + "/Tests/SwiftCaffeTests/CaffeReference/recurrent.safetensors")
        func tensor(_ key: String) throws -> Safetensors.Tensor { try #require(tensors["\(name)/\(key)"], "no \(name)/\(key)") }
        let type = name.hasPrefix("LSTM") ? "LSTM" : "RNN", exposed = name.hasSuffix("exposed")
        let states = type == "LSTM" ? ["h", "c"] : ["h"]
        let inputs = ["x", "cont"] + (exposed ? ["x_static"] + states.map { $0 + "_0" } : []) + ["w"]
        let shapes = try inputs.map { try tensor($0).shape }
        let tops = ["out"] + (exposed ? states.map { $0 + "_T" } : [])
        let yaml = """
            layers:
              - {name: input, type: Input, top: [\(inputs.joined(separator: ", "))], shape: \(shapes)}
              - {name: rec, type: \(type), bottom: [\(inputs.dropLast().joined(separator: ", "))], top: [\(tops.joined(separator: ", "))],
                 num_output: 3, expose_hidden: \(exposed)}
              - {name: prod, type: Eltwise, bottom: [out, w], top: prod, operation: PROD}
              - {name: loss, type: Reduction, bottom: prod, top: loss, operation: SUM, loss_weight: 1}
            """
        let net = try Net(spec: try NetSpec.parse(yaml), phase: .train)
        for input in inputs { net.blobs[input]!.setData(try tensor(input).values) }
        let layer = try #require(net.plan.layer(named: "rec"))
        #expect(layer.params.count == (type == "LSTM" ? 3 : 5) + (exposed ? 1 : 0))
        for (index, parameter) in layer.params.enumerated() {
            let caffe = try tensor("param\(index)")
            #expect(parameter.shape == caffe.shape, "parameter \(index)")
            parameter.setData(caffe.values)
        }
        func close(_ ours: [Float], _ theirs: [Float], _ what: String) {
            let worst = zip(ours, theirs).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 1
            #expect(ours.count == theirs.count && worst < 2e-5, "\(what): largest difference \(worst)")
        }
        try net.forward()
        for top in tops { close(net.blobs[top]!.dataArray, try tensor(top).values, top) }
        net.zeroParameterDiffs()
        net.backward()
        for (index, parameter) in layer.params.enumerated() { close(parameter.diffArray, try tensor("param\(index)_diff").values, "gradient \(index)") }
        // The second pass: cont 1 at the first step, so without expose_hidden it goes on from the first.
        var cont = try tensor("cont").values
        for n in 0..<3 { cont[n] = 1 }
        net.blobs["cont"]!.setData(cont)
        try net.forward()
        close(net.blobs["out"]!.dataArray, try tensor("out_second").values, "second pass")
    }
}

import Foundation
import Testing
import ONNXInterop
import SwiftCaffe
@testable import CustomLayers

@Suite struct ScaledTanhTests {
    init() { registerCustomLayers() }

    func layer(_ yaml: String, as type: String = "ScaledTanh") throws -> any Layer {
        let spec = try LayerSpec(try YAMLParser.parse(yaml, file: "net.yaml"), index: 0, baseDirectory: "")
        let layer = try LayerRegistry.make(spec, context: LayerContext(phase: .train, seed: 3))
        try spec.rejectUnknownKeys()
        return layer
    }

    func check(_ layer: any Layer) throws -> [GradientChecker.Result] {
        var rng = RandomGenerator(seed: 5)
        let bottom = Blob(name: "x", shape: [2, 3, 4])
        for i in 0..<bottom.count { bottom.data[i] = rng.uniform(-2, 2) }
        bottom.needsGradient = true
        let top = Blob(name: "y")
        try layer.setUp(bottom: [bottom], top: [top])
        return try GradientChecker().check(layer, bottom: [bottom], top: [top])
    }

    @Test(arguments: ["{name: t, type: ScaledTanh, scale_filler: {type: uniform, min: 0.5, max: 2}, slope_filler: {type: gaussian, std: 1}}",
                      "{name: t, type: ScaledTanh, channel_shared: true, scale_filler: {type: constant, value: 1.5}}"])
    func backwardMatchesFiniteDifferences(_ yaml: String) throws {
        let results = try check(try layer(yaml))
        #expect(results.map(\.blob) == ["bottom 0", "param 0", "param 1"])
        for result in results { #expect(result.passed, "\(result)") }
    }

    @Test func aWrongBackwardIsCaught() throws {
        LayerRegistry.register(BrokenScaledTanh.self, as: "BrokenScaledTanh")
        let results = try check(try layer("{name: t, type: BrokenScaledTanh, slope_filler: {type: constant, value: 0.7}}"))
        #expect(results.contains { !$0.passed })
    }

    /// The layer's registered ONNX writer: the exported model, read back by SwiftCaffe's ONNX
    /// import (Mul, Tanh, Mul), computes what the layer does.
    @Test(arguments: [false, true])
    func exportsToONNX(_ shared: Bool) throws {
        ONNXFormats.register()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scaled-tanh-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let spec = try NetSpec.parse("""
            name: t
            layers:
              - {name: data, type: Input, top: data, shape: [2, 3, 4, 5]}
              - {name: act, type: ScaledTanh, bottom: data, top: act, channel_shared: \(shared),
                 scale_filler: {type: uniform, min: 0.5, max: 2}, slope_filler: {type: gaussian, std: 1}}
            """)
        try Net(spec: spec, options: NetOptions(phase: .test, seed: 8)).saveWeights(to: folder + "/w.safetensors")
        var rng = RandomGenerator(seed: 6)
        let sample = Safetensors.Tensor(shape: [2, 3, 4, 5], values: (0..<120).map { _ in rng.uniform(-2, 2) })
        let ours = try Predictor(spec: spec, weights: folder + "/w.safetensors")(sample)
        try Data(try ONNXExport.model(spec, weights: folder + "/w.safetensors").bytes).write(to: URL(fileURLWithPath: folder + "/m.onnx"))
        let back = try Predictor(net: folder + "/m.onnx", weights: nil)(sample)
        let worst = zip(ours.values, back.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(back.shape == ours.shape && worst <= 1e-6, "differs by \(worst)")
        #expect(Set(ours.values).count > 100)  // the parameters and inputs vary: the check means something
    }

    @Test func keyErrorsCiteTheFile() throws {
        do {
            _ = try layer("{name: t, type: ScaledTanh, chanel_shared: true}")
            Issue.record("expected an error")
        } catch let error as SwiftCaffeError {
            #expect(error.description.hasPrefix("net.yaml:1:29: error: layer 't' (ScaledTanh): unknown key 'chanel_shared'"))
            #expect(error.description.contains("did you mean 'channel_shared'"))
        }
    }

    @Test func trainsInANetFromAFile() throws {
        let yaml = """
        layers:
          - {name: in, type: Input, top: [x, target], shape: [[8, 2, 3], [8, 2, 3]]}
          - {name: t, type: ScaledTanh, bottom: x, top: y}
          - {name: loss, type: EuclideanLoss, bottom: [y, target], top: loss}
        """
        let net = try Net(spec: try NetSpec.parse(yaml), phase: .train)
        var rng = RandomGenerator(seed: 9)
        for i in 0..<net.blobs["x"]!.count {
            let x = rng.uniform(-3, 3)
            net.blobs["x"]!.data[i] = x
            net.blobs["target"]!.data[i] = -2 * tanh(1.5 * x)  // a = -2, b = 1.5 (or 2, -1.5) to be learned
        }
        var settings = SolverSpec()
        settings.baseLR = 0.1
        let solver = Solver(spec: settings, parameters: net.parameters, maxIter: 2000)
        try net.forward()
        let before = net.loss
        for iteration in 0..<2000 {
            net.zeroParameterDiffs()
            try net.forward()
            net.backward()
            solver.update(iteration: iteration)
        }
        try net.forward()
        #expect(net.loss < before / 100)
        let a = net.parameters[0].blob.dataArray, b = net.parameters[1].blob.dataArray
        for c in 0..<2 { #expect(abs(a[c] * b[c] + 3) < 0.05, "a·b = \(a[c] * b[c]), expected -3") }
    }
}

/// The same layer with the factor a·b dropped from the input gradient.
final class BrokenScaledTanh: Layer {
    let inner: ScaledTanhLayer
    var spec: LayerSpec { inner.spec }
    var params: [Blob] {
        get { inner.params }
        set { inner.params = newValue }
    }
    init(spec: LayerSpec, context: LayerContext) throws { inner = try ScaledTanhLayer(spec: spec, context: context) }
    func setUp(bottom: [Blob], top: [Blob]) throws { try inner.setUp(bottom: bottom, top: top) }
    func forward(bottom: [Blob], top: [Blob]) { inner.forward(bottom: bottom, top: top) }
    func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        inner.backward(topDiff: top, bottomDiff: bottom)
        let t = params[1].data[0]
        for i in 0..<bottom[0].count { bottom[0].diff[i] /= params[0].data[0] * t }
    }
}

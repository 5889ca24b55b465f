import Foundation
import Testing
@testable import ONNXInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeIO
@testable import SwiftCaffeSpec

/// `convert NET model.onnx`: every shipped net either exports, and ONNX Runtime then computes
/// what SwiftCaffe computes (and so does the model read back here), or is refused at the layer
/// ONNX has no form for. Runs where
/// Python's onnxruntime is installed (CI installs it from PyPI).
@Suite struct ONNXExportTests {
    static let onnxRuntime = pythonHas("onnxruntime, numpy")

    /// Whether `python3 -c "import <modules>"` succeeds.
    static func pythonHas(_ modules: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import \(modules)"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// The model run by ONNX Runtime (scripts/onnxruntime-run.py) on the inputs, its `output`.
    static func onnxRuntime(_ model: String, _ inputs: [(name: String, tensor: Safetensors.Tensor)], output: String) throws -> Safetensors.Tensor {
        let folder = URL(fileURLWithPath: model).deletingLastPathComponent().path
        for input in inputs { try Data(NPYFile.encode(input.tensor)).write(to: URL(fileURLWithPath: folder + "/in-\(input.name).npy")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot + "/scripts/onnxruntime-run.py", model, folder + "/out.npy", "--output", output]
            + inputs.map { "\($0.name)=\(folder)/in-\($0.name).npy" }
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "ONNX Runtime failed on \(model)")
        return try NPYFile.read(path: folder + "/out.npy")
    }

    /// A net written to a folder with weights of its fillers (seed 4), and its Predictor.
    static func withWeights(_ yaml: String) throws -> (folder: String, spec: NetSpec, model: Predictor) {
        let folder = try temporaryFolder()
        try yaml.write(toFile: folder + "/n.yaml", atomically: true, encoding: .utf8)
        let spec = try NetSpec.load(path: folder + "/n.yaml")
        try Net(spec: spec, options: NetOptions(phase: .test, seed: 4)).saveWeights(to: folder + "/w.safetensors")
        return (folder, spec, try Predictor(spec: spec, weights: folder + "/w.safetensors"))
    }

    /// The same shape, and values within `tolerance` of the largest of `ours`.
    static func expectClose(_ ours: Safetensors.Tensor, _ theirs: Safetensors.Tensor, _ tolerance: Float, _ what: String) {
        let scale = max(ours.values.map(abs).max() ?? 0, 1e-6)
        let worst = zip(ours.values, theirs.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(theirs.shape == ours.shape && worst <= tolerance * scale, "\(what): differs by \(worst) at scale \(scale)")
    }

    /// The nets that have an exact ONNX form, and what refuses the others.
    static let refused = ["char_rnn": "LSTM", "lstm_rows": "LSTM"]

    @Test(.enabled(if: onnxRuntime && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist")),
          arguments: ["lenet", "mlp", "fashion_bn", "residual", "inception_mini", "logreg", "iris_mlp", "lenet_images", "fashion_aug", "char_rnn", "lstm_rows"])
    func shippedNetsRunInONNXRuntimeAsHere(_ name: String) throws {
        let path = repositoryRoot + "/nets/\(name).yaml"
        // lenet_images reads the pictures `convert` writes from the IDX files (docs/commands.md).
        guard name != "lenet_images" || FileManager.default.fileExists(atPath: repositoryRoot + "/data/fashion-png/test/list.txt") else { return }
        let folder = try temporaryFolder()
        let spec = try NetSpec.load(path: path)
        if let type = Self.refused[name] {
            #expect { try ONNXExport.model(spec, weights: nil) } throws: { "\($0)".contains("cannot be written to ONNX") && "\($0)".contains("(\(type))") }
            return
        }
        // Weights with every BatchNorm's statistics away from the identity, saved once, read by both.
        let trained = try Net(spec: try DeployNet(spec).spec, options: NetOptions(phase: .test, seed: 5))
        for parameter in trained.parameters where parameter.lrMult == 0 && parameter.blob.count > 1 {
            parameter.blob.setData((0..<parameter.blob.count).map { 0.5 + Float($0 % 7) * 0.1 })
        }
        try trained.saveWeights(to: folder + "/w.safetensors")
        let model = try Predictor(spec: spec, weights: folder + "/w.safetensors")
        let input = model.inputs[0]
        var generator = RandomGenerator(seed: 11, stream: "onnx-input")
        let sample = Safetensors.Tensor(shape: [3] + input.shape.dropFirst(), values: (0..<(3 * input.shape.dropFirst().reduce(1, *))).map { _ in generator.uniform(0, 1) })
        let ours = try model(sample)

        try Data(try ONNXExport.model(spec, weights: folder + "/w.safetensors").bytes).write(to: URL(fileURLWithPath: folder + "/m.onnx"))
        Self.expectClose(ours, try Self.onnxRuntime(folder + "/m.onnx", [(input.name, sample)], output: model.output), 1e-4, "\(name) in ONNX Runtime")
        // And back: the exported model read as a net here computes what the net did.
        ONNXFormats.register()
        Self.expectClose(ours, try Predictor(net: folder + "/m.onnx", weights: nil)(sample), 1e-5, "\(name) read back")
    }

    /// The neuron and shape layers no shipped net has, exported and run in ONNX Runtime, then
    /// read back here: PReLU, Power, Clip, Swish, Exp and Log with their bases, Slice, Permute.
    static let neurons = """
        name: neurons
        layers:
          - {name: data, type: Input, top: data, shape: [2, 4, 6, 5]}
          - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 6, kernel_size: 3, pad: 1, weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian, std: 0.2}}
          - {name: prelu, type: PReLU, bottom: conv, top: prelu, filler: {type: uniform, min: 0.1, max: 0.4}}
          - {name: power, type: Power, bottom: prelu, top: power, power: 2, scale: 0.5, shift: 1}
          - {name: clip, type: Clip, bottom: power, top: clip, min: 0.2, max: 4}
          - {name: swish, type: Swish, bottom: clip, top: swish, beta: 1.5}
          - {name: exp, type: Exp, bottom: swish, top: exp, scale: 0.1, base: 2}
          - {name: log, type: Log, bottom: exp, top: log, shift: 1, base: 10}
          - {name: slice, type: Slice, bottom: log, top: [a, b], axis: 1, slice_point: [2]}
          - {name: permute, type: Permute, bottom: b, top: p, order: [0, 2, 3, 1]}
          - {name: flat, type: Flatten, bottom: p, top: f}
          - {name: flat2, type: Flatten, bottom: a, top: g}
          - {name: shared, type: PReLU, bottom: g, top: h, channel_shared: true, filler: {type: constant, value: 0.3}}
          - {name: out, type: Concat, bottom: [f, h], top: out}
        """

    @Test(.enabled(if: onnxRuntime))
    func neuronAndShapeLayersExportAndReadBack() throws {
        let (folder, spec, model) = try Self.withWeights(Self.neurons)
        var generator = RandomGenerator(seed: 12, stream: "onnx-neurons")
        let sample = Safetensors.Tensor(shape: [2, 4, 6, 5], values: (0..<240).map { _ in generator.uniform(-1, 1) })
        let ours = try model(sample)
        try Data(try ONNXExport.model(spec, weights: folder + "/w.safetensors").bytes).write(to: URL(fileURLWithPath: folder + "/m.onnx"))
        Self.expectClose(ours, try Self.onnxRuntime(folder + "/m.onnx", [("data", sample)], output: "out"), 1e-4, "in ONNX Runtime")
        ONNXFormats.register()
        Self.expectClose(ours, try Predictor(net: folder + "/m.onnx", weights: nil)(sample), 1e-5, "read back")
    }

    /// The layers with ONNX forms but no way back through the import (ConvTranspose, Tile,
    /// TopK, Gather of computed indices, reductions, a backward Slice), against ONNX Runtime.
    static let shapes = """
        name: shapes
        layers:
          - {name: data, type: Input, top: [data, ref], shape: [[2, 3, 5, 6], [2, 8, 7, 9]]}
          - {name: deconv, type: Deconvolution, bottom: data, top: deconv, num_output: 4, kernel_size: 3, stride: 2, pad: 1, weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian, std: 0.2}}
          - {name: flip, type: Flip, bottom: deconv, top: flip}
          - {name: tile, type: Tile, bottom: flip, top: tile, tiles: 2}
          - {name: crop, type: Crop, bottom: [tile, ref], top: crop, axis: 2, offset: [1, 2]}
          - {name: reduce, type: Reduction, bottom: crop, top: reduce, axis: 2, operation: SUMSQ, coeff: 0.5}
          - {name: asum, type: Reduction, bottom: crop, top: asum, axis: 1, operation: ASUM}
          - {name: column, type: Reshape, bottom: asum, top: column, shape: [0, 1]}
          - {name: pick, type: ArgMax, bottom: crop, top: pick, axis: 1}
          - {name: embed, type: Embed, bottom: pick, top: embed, input_dim: 8, num_output: 3, weight_filler: {type: gaussian, std: 1}, bias_filler: {type: gaussian, std: 1}}
          - {name: flat, type: Flatten, bottom: embed, top: flat}
          - {name: best, type: ArgMax, bottom: reduce, top: best, top_k: 2, out_max_val: true}
          - {name: flat2, type: Flatten, bottom: best, top: flat2}
          - {name: out, type: Concat, bottom: [reduce, column, flat, flat2], top: out}
        """

    @Test(.enabled(if: onnxRuntime))
    func layersWithoutAWayBackMatchONNXRuntime() throws {
        let (folder, spec, model) = try Self.withWeights(Self.shapes)
        var generator = RandomGenerator(seed: 13, stream: "onnx-shapes")
        let data = Safetensors.Tensor(shape: [2, 3, 5, 6], values: (0..<180).map { _ in generator.uniform(-1, 1) })
        let ref = Safetensors.Tensor(shape: [2, 8, 7, 9], values: [Float](repeating: 0, count: 2 * 8 * 7 * 9))
        let ours = try model(["data": data, "ref": ref])
        try Data(try ONNXExport.model(spec, weights: folder + "/w.safetensors").bytes).write(to: URL(fileURLWithPath: folder + "/m.onnx"))
        #expect(ours.shape == [2, 8 + 1 + 7 * 9 * 3 + 4])
        Self.expectClose(ours, try Self.onnxRuntime(folder + "/m.onnx", [("data", data), ("ref", ref)], output: "out"), 1e-4, "in ONNX Runtime")
    }

    /// The protobuf by hand: a value ONNX's own parser would misread shows up as a wrong model.
    @Test func varintsAndNestedMessagesAreProtobufs() {
        var writer = ProtobufWriter()
        writer.int(1, 300)
        writer.int(2, -1)
        writer.message(3) { $0.string(1, "ab") }
        #expect(writer.bytes == [0x08, 0xAC, 0x02, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x1A, 0x04, 0x0A, 0x02, 0x61, 0x62])
    }
}

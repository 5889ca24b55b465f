import Foundation
import Testing
import CaffeInterop
@testable import ONNXInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeIO
@testable import SwiftCaffeSpec

/// ONNX models in: small models shaped like torchvision's classifiers, written by
/// `scripts/onnx-fixtures.py` with the `onnx` package and run by ONNX Runtime, give the same
/// outputs here; an operator we do not read, and damaged files, are errors naming what is
/// wrong. Runs where Python's onnx and onnxruntime are installed (CI installs both from PyPI).
@Suite(.serialized) struct ONNXImportTests {
    init() { ONNXFormats.register() }

    static let models = ["resnet", "mobilenet", "shufflenet", "squeezenet"]

    /// The fixtures, written once per test run.
    static let fixtures: String? = {
        guard let folder = try? temporaryFolder() else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot + "/scripts/onnx-fixtures.py", folder]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? folder : nil
    }()

    static let pythonHasONNX = ONNXExportTests.pythonHas("onnx, onnxruntime, numpy")

    @Test(.enabled(if: pythonHasONNX), arguments: models)
    func aModelComputesWhatONNXRuntimeComputes(_ name: String) throws {
        let folder = try #require(Self.fixtures, "scripts/onnx-fixtures.py failed")
        let model = try Predictor(net: folder + "/\(name).onnx", weights: nil)
        let input = try NPYFile.read(path: folder + "/\(name)-input.npy")
        let expected = try NPYFile.read(path: folder + "/\(name)-output.npy")
        let ours = try model(input)
        #expect(ours.shape == expected.shape)
        let largest = expected.values.map(abs).max() ?? 0
        let difference = zip(ours.values, expected.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(largest > 0.01, "the fixture's output is too close to zero to tell anything")
        #expect(difference <= 1e-5 * max(1, largest), "\(name): max difference \(difference) of values up to \(largest)")
        if name == "resnet" {  // written in place, every BatchNorm and ReLU folds into the layer before it
            let net = try Net(spec: try ONNXImport.load(folder + "/resnet.onnx").spec, options: NetOptions(phase: .test, purpose: .inference))
            let left = net.layers.map(\.spec.type).filter { ["ReLU", "BatchNorm", "Scale"].contains($0) }
            #expect(left.isEmpty, "not folded: \(left)")
        }
        if name == "squeezenet" {  // x · sigmoid(x) became one Swish layer; the other sigmoid stayed one
            let types = try ONNXImport.load(folder + "/\(name).onnx").spec.layers.map(\.type)
            #expect(types.filter { $0 == "Swish" }.count == 1 && types.filter { $0 == "Sigmoid" }.count == 1, "\(types)")
        }
    }

    /// `convert model.onnx net.yaml weights.safetensors` writes our own form, which computes
    /// exactly what the model does here; and the net keeps taking any number of samples.
    @Test(.enabled(if: pythonHasONNX))
    func aModelConvertsToYAMLAndWeights() throws {
        let folder = try #require(Self.fixtures, "scripts/onnx-fixtures.py failed")
        let (spec, weights) = try ONNXImport.load(folder + "/mobilenet.onnx")
        try Data(try NetFileConversion.yaml(spec, pathsRelativeTo: folder).utf8).write(to: URL(fileURLWithPath: folder + "/mobilenet.yaml"))
        try TensorFiles.write(weights, to: folder + "/mobilenet.safetensors")
        let input = try NPYFile.read(path: folder + "/mobilenet-input.npy")
        let fromONNX = try Predictor(net: folder + "/mobilenet.onnx", weights: nil)(input)
        let fromYAML = try Predictor(net: folder + "/mobilenet.yaml", weights: folder + "/mobilenet.safetensors")(input)
        #expect(fromYAML.values == fromONNX.values && fromYAML.shape == fromONNX.shape)
        // A YAML net without the weights is refused, not run on its fillers.
        #expect { try Predictor(net: folder + "/mobilenet.yaml", weights: nil) } throws: { "\($0)".contains("no weights were given") }
    }

    /// The batch stays free: the shape arithmetic of ShuffleNet's channel shuffle and the
    /// broadcast of squeeze-excitation copy the batch instead of fixing it at the 1 the file
    /// was read with, so the net set to 3 samples runs them in one pass, as ONNX Runtime did.
    @Test(.enabled(if: pythonHasONNX), arguments: ["shufflenet", "mobilenet"])
    func aModelRunsAnyBatchInOnePass(_ name: String) throws {
        let folder = try #require(Self.fixtures, "scripts/onnx-fixtures.py failed")
        let (spec, _) = try ONNXImport.load(folder + "/\(name).onnx")
        let yaml = try NetFileConversion.yaml(spec, pathsRelativeTo: folder)
        let three = yaml.replacingOccurrences(of: "shape: [1, 3,", with: "shape: [3, 3,")
        #expect(three != yaml)
        let net = try Net(spec: try NetSpec.parse(three), options: NetOptions(phase: .test, purpose: .inference))
        try net.loadWeights(from: folder + "/\(name).onnx")
        let input = try NPYFile.read(path: folder + "/\(name)-input.npy"), expected = try NPYFile.read(path: folder + "/\(name)-output.npy")
        try net.forward(replacing: ["image": input.values])
        let ours = net.blobs[net.outputNames.last!]!
        #expect(ours.shape == expected.shape)
        let largest = expected.values.map(abs).max() ?? 0
        let difference = zip(ours.dataArray, expected.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference <= 1e-5 * max(1, largest), "\(name): max difference \(difference)")
    }

    /// Models an attacker would write (valid protobuf, hostile numbers and shapes), each
    /// through the real binary: a located error naming the node, exit status 1, no crash.
    static let hostile = """
        import sys, numpy as np, onnx
        from onnx import TensorProto, helper, numpy_helper
        folder = sys.argv[1]
        def save(name, nodes, inits=()):
            x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])
            y = helper.make_tensor_value_info(nodes[-1].output[0] if nodes[-1].output else "y", TensorProto.FLOAT, None)
            graph = helper.make_graph(nodes, name, [x], [y], [numpy_helper.from_array(np.asarray(v), n) for n, v in inits])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            onnx.save(model, f"{folder}/{name}.onnx")
        big = np.int64(2**62)
        save("no_output", [helper.make_node("Relu", ["x"], [], name="silent")])
        save("empty_concat", [helper.make_node("Concat", [], ["y"], name="join", axis=1)])
        save("huge_reshape", [helper.make_node("Reshape", ["x", "s"], ["y"], name="grow")], [("s", np.array([big, big, -1], dtype=np.int64))])
        save("nan_shape", [helper.make_node("Cast", ["f"], ["s"], name="cast", to=7), helper.make_node("Reshape", ["x", "s"], ["y"], name="use")],
             [("f", np.array([np.nan, -1], dtype=np.float32))])
        save("overflow_div", [helper.make_node("Div", ["a", "b"], ["s"], name="divide"), helper.make_node("Reshape", ["x", "s"], ["y"], name="use")],
             [("a", np.array([-2**63], dtype=np.int64)), ("b", np.array([-1], dtype=np.int64))])
        save("huge_stride", [helper.make_node("Conv", ["x", "w"], ["y"], name="stride", strides=[2**40, 1])], [("w", np.ones((2, 2, 1, 1), np.float32))])
        save("huge_split", [helper.make_node("Split", ["x", "p"], ["y", "z"], name="cut", axis=1)], [("p", np.array([big, -big + 2], dtype=np.int64))])
        save("far_gather", [helper.make_node("Shape", ["x"], ["s"], name="shape"), helper.make_node("Gather", ["s", "i"], ["y"], name="pick")],
             [("i", np.array(7, dtype=np.int64))])
        save("pad_then_relu", [helper.make_node("Pad", ["x", "p"], ["padded"], name="pad"), helper.make_node("Relu", ["padded"], ["y"], name="act")],
             [("p", np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64))])
        save("huge_pads", [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], pads=[2**31, 0, 2**31, 0])])
        """

    @Test(.enabled(if: pythonHasONNX))
    func hostileModelsGetLocatedErrors() throws {
        let folder = try temporaryFolder()
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        writer.arguments = ["python3", "-c", Self.hostile, folder]
        try writer.run()
        writer.waitUntilExit()
        try #require(writer.terminationStatus == 0)
        let binary = try #require(FileManager.default.isExecutableFile(atPath: FuzzTests.binary) ? FuzzTests.binary : nil, "build first: swift build")
        let expected = ["no_output": "silent", "empty_concat": "join", "huge_reshape": "grow", "nan_shape": "cast", "overflow_div": "divide",
                        "huge_stride": "stride", "huge_split": "cut", "far_gather": "pick", "huge_pads": "pool", "pad_then_relu": "act"]
        // The fuzzer's runner: a time and memory limit, and a crash told from an error.
        let runner = Fuzzer(binary: binary, repository: repositoryRoot, root: folder, seed: 0)
        for (model, node) in expected {
            let (outcome, text) = runner.run([binary, "summary", folder + "/\(model).onnx"])
            #expect(outcome == .locatedError && text.contains("'\(node)'") && text.contains("\(model).onnx"), "\(model): \(outcome), \(text)")
        }
    }

    @Test(.enabled(if: pythonHasONNX))
    func anOperatorWeDoNotReadIsNamedWithItsNode() throws {
        let folder = try #require(Self.fixtures, "scripts/onnx-fixtures.py failed")
        #expect { try NetSpec.load(path: folder + "/unsupported.onnx") } throws: { error in
            let text = "\(error)"
            return text.contains("(#2, Erf)") && text.contains("unsupported.onnx") && text.contains("does not read")
        }
    }

    /// Every cut of a model and a few flipped bytes give an error, never a crash or a hang;
    /// a tensor whose external data lies outside the model's folder is refused.
    @Test(.enabled(if: pythonHasONNX))
    func damagedModelsAreErrors() throws {
        let folder = try #require(Self.fixtures, "scripts/onnx-fixtures.py failed")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/resnet.onnx")))
        let path = folder + "/damaged.onnx"
        var generator = RandomGenerator(seed: 3, stream: "onnx-damage")
        var refused = 0
        for trial in 0..<60 {
            var copy = bytes
            if trial < 30 {
                copy = Array(copy.prefix(copy.count * trial / 30))
            } else {
                for _ in 0..<4 { copy[Int(generator.next() % UInt64(copy.count))] = UInt8(truncatingIfNeeded: generator.next()) }
            }
            try Data(copy).write(to: URL(fileURLWithPath: path))
            do {
                _ = try Predictor(net: path, weights: nil)
            } catch let error as SwiftCaffeError {
                refused += 1
                #expect(!"\(error)".isEmpty)
            }
        }
        #expect(refused >= 30)  // every cut is refused; a flipped byte inside a weight may not be

        // external_data pointing out of the folder: written with onnx, then refused here.
        let script = """
            import onnx, sys
            m = onnx.load(sys.argv[1])
            t = m.graph.initializer[0]
            t.ClearField("raw_data"); t.ClearField("float_data")
            t.data_location = onnx.TensorProto.EXTERNAL
            e = t.external_data.add(); e.key = "location"; e.value = "../../etc/passwd"
            onnx.save(m, sys.argv[2])
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, folder + "/resnet.onnx", folder + "/escape.onnx"]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect { try NetSpec.load(path: folder + "/escape.onnx") } throws: { "\($0)".contains("not a file beside the model") }
    }
}

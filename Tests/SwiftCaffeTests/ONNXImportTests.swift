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

    static let pythonHasONNX: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import onnx, onnxruntime, numpy"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

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

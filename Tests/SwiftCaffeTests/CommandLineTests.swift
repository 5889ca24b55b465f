import Foundation
import Testing
@testable import SwiftCaffe
@testable import SwiftCaffeCLI
@testable import SwiftCaffeCore
@testable import SwiftCaffeIO
@testable import SwiftCaffeSpec

/// The command line as a user meets it, through the real binary: runs that never write over
/// earlier runs, Caffe's own flags, `--json`, and the classify options of Caffe's example.
@Suite struct CommandLineTests {
    let runner = Fuzzer(binary: FuzzTests.binary, repository: repositoryRoot, root: NSTemporaryDirectory(), seed: 0)
    static let iris = repositoryRoot + "/nets/iris_mlp.yaml"

    func run(_ arguments: [String]) -> (Fuzzer.Outcome, String) { runner.run([FuzzTests.binary] + arguments) }

    func files(_ folder: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: repositoryRoot + "/data/iris/train.csv")))
    func aRunNeverWritesOverAnEarlierOne() throws {
        let folder = try temporaryFolder()
        let first = run(["train", Self.iris, "--max-iter", "20", "-o", folder])
        #expect(first.0 == .ran, "\(first)")
        let log = try String(contentsOfFile: folder + "/iris_mlp_log.csv", encoding: .utf8)
        let second = run(["train", Self.iris, "--max-iter", "10", "--output", folder])
        #expect(second.0 == .ran && second.1.contains("this run writes \(folder)/iris_mlp-2_*"), "\(second)")
        #expect(try String(contentsOfFile: folder + "/iris_mlp_log.csv", encoding: .utf8) == log, "the first run's log changed")
        #expect(files(folder) == ["iris_mlp-2_events.jsonl", "iris_mlp-2_iter_10.safetensors", "iris_mlp-2_iter_10.solverstate", "iris_mlp-2_log.csv",
                                  "iris_mlp_events.jsonl", "iris_mlp_iter_20.safetensors", "iris_mlp_iter_20.solverstate", "iris_mlp_log.csv"])
        // --resume continues beside its state, whatever the default prefix is.
        let resumed = run(["train", Self.iris, "--max-iter", "15", "--resume", folder + "/iris_mlp-2_iter_10.solverstate"])
        #expect(resumed.0 == .ran && resumed.1.contains("weights saved to \(folder)/iris_mlp-2_iter_15.safetensors"), "\(resumed)")
        // A solver state given as weights holds no parameter: an error that says where it goes.
        let misused = run(["train", Self.iris, "--max-iter", "5", "-o", folder, "--weights", folder + "/iris_mlp_iter_20.solverstate"])
        #expect(misused.0 == .locatedError && misused.1.contains("a .solverstate goes to --resume"), "\(misused)")
        // --force replaces the earlier run's files, and only them.
        let forced = run(["train", Self.iris, "--max-iter", "5", "-o", folder, "--force"])
        #expect(forced.0 == .ran, "\(forced)")
        #expect(files(folder).filter { $0.hasPrefix("iris_mlp_") } == ["iris_mlp_events.jsonl", "iris_mlp_iter_5.safetensors", "iris_mlp_iter_5.solverstate", "iris_mlp_log.csv"])
        #expect(files(folder).contains("iris_mlp-2_iter_15.safetensors"))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: repositoryRoot + "/data/iris/train.csv")))
    func caffesFlagsWork() throws {
        let folder = try temporaryFolder()
        #expect(run(["train", "-solver", Self.iris, "-iterations", "1"]).0 != .ran)  // train has no --iterations
        let trained = run(["train", "--solver=" + Self.iris, "--max-iter", "10", "-o", folder])
        #expect(trained.0 == .ran, "\(trained)")
        let tested = run(["test", "-model", Self.iris, "-weights", folder + "/iris_mlp_iter_10.safetensors", "-iterations", "1"])
        #expect(tested.0 == .ran && tested.1.contains("accuracy = ") && tested.1.contains("30 rows in 1 batches"), "\(tested)")
        let timed = run(["time", "-model=" + Self.iris, "-iterations", "1", "-phase", "TEST"])
        #expect(timed.0 == .ran && timed.1.contains("forward "), "\(timed)")
        let gpu = run(["test", "-model", Self.iris, "-gpu", "0"])
        #expect(gpu.0 != .ran && gpu.1.contains("CPU only"), "\(gpu)")
        let unknown = run(["test", "-weightz", "w", Self.iris])
        #expect(unknown.0 != .ran && unknown.1.contains("unknown option '-weightz'"), "\(unknown)")
    }

    /// A net whose only data layer is marked for training, scored with `test`.
    @Test func aBottomMadeOnlyInTheOtherPhaseNamesThePhase() throws {
        let spec = try NetSpec.parse("""
            layers:
              - {name: in, type: Input, top: data, shape: [2, 3], phase: train}
              - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 2}
            """)
        #expect { try Net(spec: spec, phase: .test) } throws: { error in
            "\(error)".contains("bottom 'data' is not produced in the test phase: only layer 'in' (line 2, phase: train) produces it")
        }
    }

    /// Shapes need the data files; the graph does not.
    @Test func drawAndSummaryWorkWithoutTheDataFiles() throws {
        let folder = try temporaryFolder()
        let text = try String(contentsOfFile: Self.iris, encoding: .utf8).replacingOccurrences(of: "../data/iris/", with: "missing/")
        try text.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        let (outcome, output) = run(["draw", folder + "/net.yaml", "-o", folder + "/net.dot"])
        #expect(outcome == .ran && output.contains("drawn without blob shapes") && output.contains("missing/train.csv"), "\(output)")
        let dot = try String(contentsOfFile: folder + "/net.dot", encoding: .utf8)
        #expect(dot.contains("N1 -> N2 [label=\"hidden\"]") && dot.contains("iris\\nCSVData"), "\(dot)")
        // summary lists the layers and what they read and write, and says what it cannot give.
        let summary = run(["summary", folder + "/net.yaml"])
        #expect(summary.0 == .ran && summary.1.contains("without shapes, parameters and FLOPs") && summary.1.contains("missing/train.csv"), "\(summary)")
        #expect(summary.1.contains("scores  InnerProduct     hidden -> scores"), "\(summary)")
    }

    /// The rewrite itself: Caffe's spellings in, ours out; after "--" nothing is touched.
    @Test func caffeFlagsTranslateAsCaffeMeansThem() throws {
        #expect(try CaffeFlags.translate(["test", "-model=m.prototxt", "-weights", "w", "-iterations", "5", "-phase", "TEST", "-o", "x", "--base-lr", "-0.5"])
                == ["test", "m.prototxt", "--weights", "w", "--iterations", "5", "--phase", "test", "-o", "x", "--base-lr", "-0.5"])
        #expect(try CaffeFlags.translate(["train", "--solver", "s.prototxt", "-snapshot", "a.solverstate", "--", "-weird"])
                == ["train", "s.prototxt", "--resume", "a.solverstate", "--", "-weird"])
        #expect(try CaffeFlags.translate(["test", "--weights", "w"]) == ["test", "--weights", "w"])
        #expect(throws: (any Error).self) { try CaffeFlags.translate(["test", "-weights"]) }
    }

    @Test func mistakesAreNamedAndNeverExitZero() {
        let version = run(["--version"])
        #expect(version.0 == .ran && version.1.contains(SwiftCaffeCommand.version))
        let misspelled = run(["trian", Self.iris])
        #expect(misspelled.0 != .ran && misspelled.1.contains("did you mean 'train'?"), "\(misspelled)")
        let help = run(["convert", "--help"])
        #expect(help.0 == .ran && help.1.contains("OVERVIEW: Convert") && !help.1.contains("error:"), "\(help)")
        let completion = run(["--generate-completion-script", "bash"])
        #expect(completion.0 == .ran && completion.1.contains("_swiftcaffe"), "\(completion.1.prefix(200))")
        let threads = run(["train", Self.iris, "--threads", "0"])
        #expect(threads.0 != .ran && threads.1.contains("--threads must be between") && threads.1.contains("swiftcaffe train --help"), "\(threads)")
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: repositoryRoot + "/data/iris/train.csv")))
    func jsonOutputsParseWithTheirDocumentedFields() throws {
        let folder = try temporaryFolder()
        #expect(run(["train", Self.iris, "--max-iter", "10", "-o", folder]).0 == .ran)
        func object(_ arguments: [String]) throws -> [String: Any] {
            let (outcome, output) = run(arguments)
            #expect(outcome == .ran, "\(output)")
            return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
        }
        let test = try object(["test", Self.iris, "--weights", folder + "/iris_mlp_iter_10.safetensors", "--json"])
        let outputs = try #require(test["outputs"] as? [String: Double])
        #expect(test["samples"] as? Int == 30 && (0...1).contains(outputs["accuracy"] ?? -1) && outputs["loss"] != nil)
        #expect((test["confusion"] as? [[Int]])?.flatMap { $0 }.reduce(0, +) == 30 && (test["classes"] as? [String])?.first == "setosa")
        // plot to PNG goes through rsvg-convert when it is there, else says which package has it.
        let picture = folder + "/curves.png"
        let plotted = run(["plot", folder + "/iris_mlp_log.csv", "-o", picture])
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/rsvg-convert") {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: picture))
            #expect(plotted.0 == .ran && bytes.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        } else {
            #expect(plotted.0 != .ran && plotted.1.contains("apt-get install librsvg2-bin"), "\(plotted)")
        }
        let summary = try object(["summary", Self.iris, "--json"])
        #expect(summary["parameters"] as? Int == 4 * 16 + 16 + 16 * 3 + 3 && summary["trainable_parameters"] as? Int == 131)
        #expect((summary["layers"] as? [[String: Any]])?.map { $0["name"] as? String } == ["iris", "hidden", "relu", "scores", "loss"])
        // forward: .npy in, .npy out, the same numbers Predictor computes.
        let flowers = Safetensors.Tensor(shape: [2, 4], values: [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3])
        try Data(NPYFile.encode(flowers)).write(to: URL(fileURLWithPath: folder + "/in.npy"))
        let weights = folder + "/iris_mlp_iter_10.safetensors"
        let forwarded = run(["forward", Self.iris, "--weights", weights, "--input", "data=" + folder + "/in.npy", "-o", folder + "/out.npy"])
        #expect(forwarded.0 == .ran, "\(forwarded)")
        let expected = try Predictor(net: Self.iris, weights: weights)(flowers)
        let written = try NPYFile.read(path: folder + "/out.npy")
        #expect(written == expected && expected.shape == [2, 3])
        let hidden = run(["forward", Self.iris, "--weights", weights, "--input", "data=" + folder + "/in.npy", "-o", folder + "/hidden.npy", "--blob", "hidden"])
        #expect(hidden.0 == .ran, "\(hidden)")
        #expect(try NPYFile.read(path: folder + "/hidden.npy").shape == [2, 16])
        // Several blobs: an .npz that numpy reads, each array the one forward wrote alone.
        let both = run(["forward", Self.iris, "--weights", weights, "--input", "data=" + folder + "/in.npy", "-o", folder + "/both.npz",
                        "--blob", "hidden", "--blob", "prob"])
        #expect(both.0 == .ran, "\(both)")
        #expect(run(["forward", Self.iris, "--weights", weights, "--input", "data=" + folder + "/in.npy", "-o", folder + "/both.npy",
                     "--blob", "hidden", "--blob", "prob"]).0 != .ran)
        if ONNXExportTests.onnxRuntime {  // numpy is there with onnxruntime
            let check = Process()
            check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            check.arguments = ["python3", "-c", """
                import numpy as np, sys
                z = np.load(sys.argv[1])
                assert sorted(z.files) == ["hidden", "prob"], z.files
                assert np.array_equal(z["hidden"], np.load(sys.argv[2])), "hidden"
                assert np.array_equal(z["prob"], np.load(sys.argv[3])), "prob"
                """, folder + "/both.npz", folder + "/hidden.npy", folder + "/out.npy"]
            try check.run()
            check.waitUntilExit()
            #expect(check.terminationStatus == 0)
        }
        let time = try object(["time", Self.iris, "--iterations", "2", "--json"])
        #expect((time["layers"] as? [[String: Any]])?.count == 5 && (time["forward_ms"] as? Double ?? -1) > 0 && time["batch"] as? Int == 12)
    }

    /// Caffe's classification example: names from a labels file, a mean file's per-channel
    /// means subtracted (here compared with the same means written on the Input layer).
    @Test func classifyTakesLabelsAndAMeanFileAsCaffesExampleDoes() throws {
        let folder = try temporaryFolder()
        func net(_ extra: String) -> String {
            """
            layers:
              - {name: data, type: Input, top: data, shape: [1, 3, 4, 4], scale: 0.01\(extra)}
              - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 3, weight_filler: {type: gaussian, std: 0.1}}
              - {name: prob, type: Softmax, bottom: ip, top: prob}
            """
        }
        try net("").write(toFile: folder + "/plain.yaml", atomically: true, encoding: .utf8)
        try net(", mean_value: [10, 20, 30]").write(toFile: folder + "/means.yaml", atomically: true, encoding: .utf8)
        try Net(spec: try NetSpec.load(path: folder + "/plain.yaml"), phase: .test).saveWeights(to: folder + "/w.safetensors")
        try RasterImage(width: 4, height: 4, channels: 3, pixels: (0..<48).map { UInt8($0 * 5) }).write(to: folder + "/p.png")
        // A mean image whose channels average 10, 20 and 30 (B, G, R as Caffe stores them).
        let mean = Safetensors.Tensor(shape: [1, 3, 2, 2], values: [5, 15, 5, 15, 20, 20, 20, 20, 0, 60, 30, 30])
        try Data(NPYFile.encode(mean)).write(to: URL(fileURLWithPath: folder + "/mean.npy"))
        try "cat\ndog\nbird\n".write(toFile: folder + "/labels.txt", atomically: true, encoding: .utf8)

        let expected = try Classifier(net: folder + "/means.yaml", weights: folder + "/w.safetensors").classify(path: folder + "/p.png", top: 3)
        let given = try Classifier(net: folder + "/plain.yaml", weights: folder + "/w.safetensors", labels: folder + "/labels.txt",
                                   meanFile: folder + "/mean.npy").classify(path: folder + "/p.png", top: 3)
        #expect(given.map(\.probability) == expected.map(\.probability) && given.map(\.label) == expected.map(\.label))
        #expect(given.map(\.name) == given.map { ["cat", "dog", "bird"][$0.label] })
        let plain = try Classifier(net: folder + "/plain.yaml", weights: folder + "/w.safetensors").classify(path: folder + "/p.png", top: 3)
        #expect(plain.map(\.probability) != expected.map(\.probability), "the mean changed nothing")

        try "cat\ndog\n".write(toFile: folder + "/short.txt", atomically: true, encoding: .utf8)
        let (outcome, output) = run(["classify", folder + "/plain.yaml", "--weights", folder + "/w.safetensors", folder + "/p.png", "--labels", folder + "/short.txt"])
        #expect(outcome != .ran && output.contains("has 2 lines, but the net scores 3 classes"), "\(output)")
        let json = run(["classify", folder + "/plain.yaml", "--weights", folder + "/w.safetensors", folder + "/p.png", "--labels", folder + "/labels.txt", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.1.utf8)) as? [String: Any], "\(json)")
        let top = try #require(((object["pictures"] as? [[String: Any]])?.first?["top"]) as? [[String: Any]])
        #expect(top.count == 3 && top.map { $0["name"] as? String } == given.map(\.name))
    }
}

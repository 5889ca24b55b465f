import Foundation
import Testing
@testable import SwiftCaffe
@testable import SwiftCaffeCore

/// Every command that takes a net, on every net in `nets/`, through the real binary: what a
/// user who tries a shipped feature on a shipped net meets. The nets are the shipped files
/// with their data paths pointed at small cuts of the same data sets (32 training and 16 test
/// images, a slice of the fortunes text) and batches of 4, so the whole matrix runs in
/// seconds. A command either succeeds, or, where the net cannot do what it asks (classify a
/// table, draw the filters of a net without convolutions), refuses with a located error.
///
/// `swift test` runs one net, the one with the most kinds of layer (fashion_aug: BatchNorm,
/// Dropout, Flip, a test phase of its own); `MATRIX_NETS=all` (what `scripts/command-matrix.sh`
/// and CI run) takes every net, `MATRIX_NETS=lenet,mlp` a choice.
@Suite(.serialized) struct CommandMatrixTests {
    /// What one command on one net must do.
    enum Expectation: Equatable {
        case succeeds
        /// Exit status 1 with an error message that contains this text and says where.
        case refuses(String)
    }

    struct Command: Sendable {
        var net: String
        var name: String
        var arguments: [String]
        var expectation: Expectation
    }

    static let allNets = ["lenet", "mlp", "logreg", "fashion_bn", "fashion_aug", "lenet_images", "inception_mini", "residual",
                          "iris_mlp", "lstm_rows", "char_rnn"]

    static var nets: [String] {
        switch ProcessInfo.processInfo.environment["MATRIX_NETS"] {
        case "all"?: return allNets
        case let list?: return list.split(separator: ",").map(String.init)
        case nil: return ["fashion_aug"]
        }
    }

    @Test(.enabled(if: fashionMNISTInstalled && FileManager.default.fileExists(atPath: "/usr/share/games/fortunes/cookie")))
    func everyCommandOnEveryShippedNet() throws {
        let binary = try #require(FileManager.default.isExecutableFile(atPath: FuzzTests.binary) ? FuzzTests.binary : nil, "build first: swift build")
        let folder = try temporaryFolder()
        let runner = Fuzzer(binary: binary, repository: repositoryRoot, root: folder, seed: 0)
        let picture = try prepareData(folder, runner: runner)
        let started = Date()
        var commands: [[Command]] = []
        for net in Self.nets {
            let path = try writeNet(net, into: folder)
            commands.append(Self.commands(net: net, path: path, folder: folder + "/\(net)-out", picture: picture))
        }
        // Each net's commands in order (train writes the weights the later ones read), the
        // nets side by side.
        let results = Results(count: commands.count)
        let all = commands
        DispatchQueue.concurrentPerform(iterations: all.count) { index in
            results.set(index, all[index].map { ($0, runner.run([binary] + $0.arguments)) })
        }
        var ran = 0
        for (command, (outcome, output)) in results.all.flatMap({ $0 }) {
            ran += 1
            switch command.expectation {
            case .succeeds:
                #expect(outcome == .ran, "\(command.net) \(command.name): \(outcome)\n\(output.suffix(1500))")
                if outcome != .ran { print("MATRIX \(command.net) \(command.name): \(output.suffix(300))") }
            case .refuses(let text):
                #expect(outcome == .locatedError && output.contains(text), "\(command.net) \(command.name): expected a refusal with '\(text)', got \(outcome)\n\(output.suffix(1500))")
            }
        }
        print("command matrix: \(ran) runs (\(Self.nets.count) nets) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        #expect(ran == all.reduce(0) { $0 + $1.count })
    }

    /// The commands for one net, in the order they must run.
    static func commands(net: String, path: String, folder: String, picture: String) -> [Command] {
        let weights = folder + "/run/\(net)_iter_2.safetensors"
        let filtered = ["iris_mlp", "char_rnn", "lstm_rows"].contains(net)
        // The first convolution, whose filters and maps `visualize` draws.
        let convolution = (try? NetSpec.load(path: path))?.layers.first { $0.type == "Convolution" }?.name
        func command(_ name: String, _ arguments: [String], _ expectation: Expectation = .succeeds) -> Command {
            // One thread for the commands that run a net: the nets run side by side.
            let threads = ["summary", "draw", "convert"].contains(arguments[0]) ? [] : ["--threads", "1"]
            return Command(net: net, name: name, arguments: arguments + threads, expectation: expectation)
        }
        var list = [
            command("summary", ["summary", path]),
            command("summary --phase test", ["summary", path, "--phase", "test"]),
            command("draw", ["draw", path, "-o", folder + "/net.dot"]),
            command("time", ["time", path, "--iterations", "2", "--warmup", "0"]),
            command("time --phase test", ["time", path, "--phase", "test", "--iterations", "2", "--warmup", "0"]),
            command("gradcheck", ["gradcheck", path, "--max-elements", "40"]),
            command("train", ["train", path, "--max-iter", "2", "--output", folder + "/run", "--quiet"]),
            command("test", ["test", path, "--weights", weights]),
            command("convert to YAML", ["convert", path, folder + "/copy.yaml"]),
            command("train the converted YAML", ["train", folder + "/copy.yaml", "--max-iter", "1", "--output", folder + "/copy", "--quiet"]),
            command("convert --deploy to prototxt", ["convert", path, folder + "/deploy.prototxt", "--deploy"]),
            command("summary of the deploy prototxt", ["summary", folder + "/deploy.prototxt"]),
            command("time the deploy prototxt", ["time", folder + "/deploy.prototxt", "--phase", "test", "--iterations", "1", "--warmup", "0"]),
            command("convert the weights to caffemodel", ["convert", weights, folder + "/weights.caffemodel"]),
            command("test with the caffemodel", ["test", path, "--weights", folder + "/weights.caffemodel"]),
            command("convert the caffemodel to Caffe's HDF5 weights", ["convert", folder + "/weights.caffemodel", folder + "/weights.h5"]),
            command("test with the HDF5 weights", ["test", path, "--weights", folder + "/weights.h5"]),
            command("jvp", ["jvp", path, "--weights", weights, "--batch", "2"]),
            ONNXExportTests.refused[net].map { type in
                command("convert to ONNX", ["convert", path, folder + "/model.onnx", "--weights", weights], .refuses("(\(type)): cannot be written to ONNX"))
            } ?? command("convert to ONNX", ["convert", path, folder + "/model.onnx", "--weights", weights]),
        ]
        // forward: zeros of the deploy form's input shapes, written beside the net.
        if let plan = try? NetPlan(spec: try DeployNet(try NetSpec.load(path: path)).spec, options: NetOptions(phase: .test)) {
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let inputs = plan.layers.indices.filter { plan.bottoms[$0].isEmpty }.flatMap { plan.tops[$0] }.map { input in
                let npy = folder + "/forward-\(input.name).npy"
                try? Data(NPYFile.encode(Safetensors.Tensor(shape: input.shape, values: [Float](repeating: 0, count: input.count)))).write(to: URL(fileURLWithPath: npy))
                return ["--input", "\(input.name)=\(npy)"]
            }
            list.append(command("forward", ["forward", path, "--weights", weights] + inputs.flatMap { $0 } + ["-o", folder + "/forward.npy"]))
        }
        list.append(filtered ? command("classify", ["classify", path, "--weights", weights, picture], .refuses("error:"))
                             : command("classify", ["classify", path, "--weights", weights, picture]))
        if let convolution {
            list.append(command("visualize filters", ["visualize", path, "--weights", weights, "--layer", convolution, "-o", folder + "/filters.png"]))
            list.append(command("visualize activations", ["visualize", path, "--weights", weights, "--layer", convolution, "--image", picture,
                                                           "-o", folder + "/maps.png"]))
        } else {
            let firstLearned = (try? NetSpec.load(path: path))?.layers.first { ["InnerProduct", "LSTM", "Embed"].contains($0.type) }?.name ?? "?"
            list.append(command("visualize filters", ["visualize", path, "--weights", weights, "--layer", firstLearned, "-o", folder + "/filters.png"],
                                .refuses("4-D filters")))
        }
        if net == "char_rnn" {
            list.append(command("sample", ["sample", path, "--weights", weights, "--length", "20"]))
        }
        return list
    }

    /// Small cuts of the data sets the nets read: IDX files, their PNG pictures and lists, the
    /// iris table, a slice of the fortunes text. Returns a picture to classify.
    func prepareData(_ folder: String, runner: Fuzzer) throws -> String {
        let source = "/usr/share/datasets/fashion-mnist/"
        for (split, count) in [("train", 32), ("t10k", 16)] {
            let images = try IDXFile(path: source + "\(split)-images-idx3-ubyte.gz")
            let labels = try IDXFile(path: source + "\(split)-labels-idx1-ubyte.gz")
            try writeIDX(folder + "/\(split)-images", dimensions: [count, 28, 28], bytes: Array(images.bytes.prefix(count * 784)))
            try writeIDX(folder + "/\(split)-labels", dimensions: [count], bytes: Array(labels.bytes.prefix(count)))
            let (outcome, output) = runner.run([runner.binary, "convert", folder + "/\(split)-images", folder + "/png/\(split == "t10k" ? "test" : split)",
                                                "--labels", folder + "/\(split)-labels"])
            guard outcome == .ran else { throw SwiftCaffeError("converting the pictures failed: \(output)") }
        }
        for table in ["train", "test"] {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/data/iris/\(table).csv", toPath: folder + "/iris-\(table).csv")
        }
        let text = try String(contentsOfFile: "/usr/share/games/fortunes/cookie", encoding: .utf8)
        try String(text.prefix(20_000)).write(toFile: folder + "/fortunes", atomically: true, encoding: .utf8)
        return folder + "/png/test/images/00.png"
    }

    /// The shipped net with its data paths pointed at the small cuts and batches of 4.
    func writeNet(_ net: String, into folder: String) throws -> String {
        let fashion = "/usr/share/datasets/fashion-mnist/"
        var text = try String(contentsOfFile: repositoryRoot + "/nets/\(net).yaml", encoding: .utf8)
        for (from, to) in [(fashion + "train-images-idx3-ubyte.gz", folder + "/train-images"), (fashion + "train-labels-idx1-ubyte.gz", folder + "/train-labels"),
                           (fashion + "t10k-images-idx3-ubyte.gz", folder + "/t10k-images"), (fashion + "t10k-labels-idx1-ubyte.gz", folder + "/t10k-labels"),
                           ("../data/iris/train.csv", folder + "/iris-train.csv"), ("../data/iris/test.csv", folder + "/iris-test.csv"),
                           ("../data/fashion-png/train/list.txt", folder + "/png/train/list.txt"), ("../data/fashion-png/test/list.txt", folder + "/png/test/list.txt"),
                           ("/usr/share/games/fortunes/cookie", folder + "/fortunes")] {
            text = text.replacingOccurrences(of: from, with: to)
        }
        text = text.replacingOccurrences(of: #"batch_size: \d+"#, with: "batch_size: 4", options: .regularExpression)
        text = text.replacingOccurrences(of: #"test_iter: \d+"#, with: "test_iter: 2", options: .regularExpression)
        let path = folder + "/\(net).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Results written from several threads.
    final class Results: @unchecked Sendable {
        private var values: [[(Command, (Fuzzer.Outcome, String))]]
        private let lock = NSLock()
        init(count: Int) { values = Array(repeating: [], count: count) }
        func set(_ index: Int, _ value: [(Command, (Fuzzer.Outcome, String))]) { lock.withLock { values[index] = value } }
        var all: [[(Command, (Fuzzer.Outcome, String))]] { lock.withLock { values } }
    }
}

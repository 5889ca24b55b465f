import Foundation
import Testing

/// The commands that take a net, on this package's net, through `my-caffe`: the layer of a
/// package works everywhere a built-in does, and where Caffe has no such layer the deploy
/// prototxt is refused at the layer's line. The data is a cut of Fashion-MNIST (32 training
/// and 16 test images), the batches 4.
@Suite(.serialized) struct MyCaffeCommandTests {
    static let fashion = "/usr/share/datasets/fashion-mnist/"

    /// `my-caffe`, built beside the test bundle.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("my-caffe").path
    }

    /// Runs `my-caffe` and returns its exit status and output.
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: fashion + "t10k-images-idx3-ubyte.gz")))
    func everyCommandOnTheScaledTanhNet() throws {
        let folder = NSTemporaryDirectory() + "my-caffe-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (split, count) in [("train", 32), ("t10k", 16)] {
            for (kind, header, size) in [("images", [0, 0, 8, 3, 0, 0, 0, count, 0, 0, 0, 28, 0, 0, 0, 28], 784), ("labels", [0, 0, 8, 1, 0, 0, 0, count], 1)] {
                let whole = try gunzip(Self.fashion + "\(split)-\(kind)-idx\(kind == "images" ? 3 : 1)-ubyte.gz")
                let bytes = header.map(UInt8.init) + whole.dropFirst(header.count).prefix(count * size)
                try Data(bytes).write(to: URL(fileURLWithPath: folder + "/\(split)-\(kind)"))
            }
        }
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var text = try String(contentsOf: here.appendingPathComponent("nets/scaled_tanh_mlp.yaml"), encoding: .utf8)
        for split in ["train", "t10k"] {
            for kind in ["images", "labels"] {
                text = text.replacingOccurrences(of: Self.fashion + "\(split)-\(kind)-idx\(kind == "images" ? 3 : 1)-ubyte.gz", with: folder + "/\(split)-\(kind)")
            }
        }
        text = text.replacingOccurrences(of: #"batch_size: \d+"#, with: "batch_size: 4", options: .regularExpression)
        let net = folder + "/net.yaml"
        try text.write(toFile: net, atomically: true, encoding: .utf8)
        let weights = folder + "/run/scaled_tanh_mlp_iter_2.safetensors"
        let succeeding: [[String]] = [
            ["summary", net], ["draw", net, "-o", folder + "/net.dot"], ["time", net, "--iterations", "2", "--warmup", "0"],
            ["gradcheck", net, "--max-elements", "40"], ["train", net, "--max-iter", "2", "--output", folder + "/run", "--quiet"],
            ["test", net, "--weights", weights], ["convert", net, folder + "/copy.yaml"], ["convert", net, folder + "/deploy.yaml", "--deploy"],
            ["summary", folder + "/deploy.yaml"], ["convert", weights, folder + "/w.caffemodel"], ["test", net, "--weights", folder + "/w.caffemodel"],
        ]
        for arguments in succeeding {
            let (status, output) = try run(arguments)
            #expect(status == 0, "\(arguments.joined(separator: " ")): \(output.suffix(800))")
        }
        // Caffe has no ScaledTanh, and the layer has no forward mode (optional for a package's
        // layers): a deploy prototxt and jvp are refused at the layer, in the net file.
        for arguments in [["convert", net, folder + "/deploy.prototxt", "--deploy"], ["jvp", net, "--weights", weights, "--batch", "2"]] {
            let (status, output) = try run(arguments)
            #expect(status == 1 && output.contains("net.yaml:12:") && output.contains("layer 'act1' (ScaledTanh)"), "\(output)")
        }
    }

    private func gunzip(_ path: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return [UInt8](data)
    }
}

import ArgumentParser
import Foundation
import SwiftCaffe

/// `swiftcaffe forward`: a trained net on inputs from .npy files, its output to a .npy file,
/// so that any tool can compare what SwiftCaffe computes (numpy, ONNX Runtime, pycaffe).
struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run a trained net on .npy inputs and write its output as .npy.",
        discussion: """
        The net runs in its deploy form (data layers become inputs, losses go, a softmax
        loss's scores become 'prob'), as `Predictor` runs it from Swift. Each --input names
        an input blob and a .npy file of N samples; the output is the class probabilities, or
        the net's last output, or the blob named with --blob. Several --blob options write an
        .npz archive of them (numpy.load reads it), one array per blob.

        Example:
          swiftcaffe forward nets/lenet.yaml --weights runs/lenet_iter_938.safetensors \\
              --input data=images.npy --output prob.npy
        """
    )

    @Argument(help: "The net file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "The trained weights (.safetensors or .caffemodel); a net without parameters needs none.")
    var weights: String?

    @Option(name: .customLong("input"), help: "BLOB=FILE.npy: the samples for an input blob (repeatable).")
    var inputs: [String] = []

    @Option(name: .shortAndLong, help: "The .npy file to write.")
    var output: String

    @Option(name: .customLong("blob"), help: "Write this blob instead of the net's output (repeatable: several go to an .npz).")
    var blobs: [String] = []

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one --input BLOB=FILE.npy") }
        for input in inputs where !input.contains("=") { throw ValidationError("--input '\(bounded(input))' is not BLOB=FILE.npy") }
        let suffix = URL(fileURLWithPath: output).pathExtension.lowercased()
        if blobs.count > 1 && suffix != "npz" { throw ValidationError("several --blob options write an .npz archive: name --output '….npz'") }
        if blobs.count <= 1 && suffix != "npy" { throw ValidationError("--output must be a .npy file (an .npz for several --blob)") }
    }

    func run() throws {
        try runtime.run {
            let model = try Predictor(spec: try netState.load(net), weights: weights, outputs: blobs)
            var given: [String: Safetensors.Tensor] = [:]
            for input in inputs {
                let name = String(input.prefix { $0 != "=" }), path = String(input.drop { $0 != "=" }.dropFirst())
                given[name] = try NPYFile.read(path: path)
            }
            let results = try model.run(given)
            try AtomicFile.write(results.count == 1 ? NPYFile.encode(results[0].tensor) : try NPZFile.encode(results), to: output)
            let described = results.map { "'\($0.name)', \($0.tensor.shape.map(String.init).joined(separator: "×"))" }.joined(separator: "; ")
            printLine("wrote \(output): \(described)")
        }
    }
}

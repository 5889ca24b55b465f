import ArgumentParser
import CaffeInterop
import Foundation
import ONNXInterop
import SwiftCaffe

/// `swiftcaffe convert IN OUT`: files from one form into another, chosen by their extensions:
/// Caffe's files to ours and back (nets, solvers, weights, mean images), and an IDX data set
/// into a folder of images for ImageData.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert nets, solvers, weights and mean images between Caffe's files and SwiftCaffe's, or IDX data into images.",
        discussion: """
        What is converted follows from the extensions of IN and OUT:

          net.prototxt -> net.yaml
              a Caffe net, or a solver.prototxt with its net, as a YAML net file
          net.yaml -> net.prototxt
              a YAML net as a prototxt Caffe 1.0 reads (its solver as net_solver.prototxt)
          --deploy
              either way, the deploy form: the test phase, data layers as Input layers
              of their shapes, no loss or accuracy, a Softmax 'prob' on the scores
          w.caffemodel -> w.safetensors
              weights, tensor for tensor (and back); w.h5 (Caffe's HDF5 weights) to
              or from either
          net.yaml -> model.onnx --weights W
              the deploy form as an ONNX model (opset 17) with the weights
          model.onnx -> net.yaml [weights.safetensors]
              an ONNX model as our net and its initializers as weights (beside the
              net, named after it, unless given; .caffemodel for Caffe), or -> .prototxt
          mean.binaryproto -> mean.npy
              a mean image for numpy (or .safetensors, tensor 'mean')
          images.idx[.gz] FOLDER --labels L
              an IDX data set as FOLDER/images/<n>.png and FOLDER/list.txt

        Paths inside nets are rewritten to name the same files from the new file:
        a YAML file's paths are relative to its folder, a prototxt's to the working
        directory, as in Caffe.

        Examples:
          swiftcaffe convert deploy.prototxt deploy.yaml
          swiftcaffe convert bvlc_alexnet.caffemodel alexnet.safetensors
          F=/usr/share/datasets/fashion-mnist
          swiftcaffe convert $F/train-images-idx3-ubyte.gz data/fashion-png/train \\
              --labels $F/train-labels-idx1-ubyte.gz
        """
    )

    @Argument(help: "The file to read.")
    var input: String

    @OptionGroup var netState: NetStateOptions

    @Argument(help: "The file (or, for IDX images, the folder) to write.")
    var output: String

    @Argument(help: "ONNX models only: where to write the weights (default: beside the net, named after it).")
    var weightsOutput: String?

    @Option(help: "IDX images only: the IDX labels file.")
    var labels: String?

    @Option(help: "IDX images only: png (lossless) or jpg.")
    var format: String = "png"

    /// The weights formats converted into one another by `TensorFiles` (the pairs without a
    /// case of their own).
    static let weightFormats: Set<String> = ["caffemodel", "safetensors", "h5", "hdf5"]

    @Option(help: "ONNX only: the trained weights to put in the model (.safetensors or .caffemodel).")
    var weights: String?

    @Flag(help: "Nets only: write the deploy form (test phase, data layers as Input, no losses, a Softmax 'prob').")
    var deploy = false

    func validate() throws {
        if !["png", "jpg"].contains(format) { throw ValidationError("--format must be png or jpg") }
    }

    private func suffix(_ path: String) -> String { URL(fileURLWithPath: path).pathExtension.lowercased() }

    func run() throws {
        try reportingErrors {
            if let labels { return try convertIDX(labels: labels) }
            if weightsOutput != nil && suffix(input) != "onnx" {
                throw SwiftCaffeError("a third file is where an ONNX model's weights go; '\(input)' is not an .onnx model",
                                      hint: "give two files: what to read and what to write")
            }
            let from = suffix(input), to = suffix(output)
            let workingDirectory = FileManager.default.currentDirectoryPath
            let outputFolder = URL(fileURLWithPath: output, relativeTo: URL(fileURLWithPath: workingDirectory + "/")).deletingLastPathComponent().path
            switch (from, to) {
            case ("prototxt", "yaml"), ("prototxt", "yml"), ("pbtxt", "yaml"), ("pbtxt", "yml"), ("yaml", "yaml"), ("yml", "yaml"), ("yaml", "yml"):
                let spec = try loadNet()
                try AtomicFile.write(Array(NetFileConversion.yaml(spec, pathsRelativeTo: outputFolder).utf8), to: output)
                printLine("wrote \(output): \(spec.layers.count) layers\(spec.solver != nil ? " and the solver" : "")")
            case ("yaml", "prototxt"), ("yml", "prototxt"), ("prototxt", "prototxt"), ("pbtxt", "prototxt"):
                let spec = try loadNet()
                let (net, solver, leftOut) = try NetFileConversion.prototxt(spec, pathsRelativeTo: workingDirectory, netPath: output)
                try AtomicFile.write(Array(net.utf8), to: output)
                printLine("wrote \(output): \(spec.layers.count) layers")
                if let solver {
                    let solverPath = String(output.dropLast(".prototxt".count)) + "_solver.prototxt"
                    try AtomicFile.write(Array(solver.utf8), to: solverPath)
                    printLine("wrote \(solverPath)" + (leftOut.isEmpty ? "" : "; Caffe's solver has no \(leftOut.joined(separator: ", ")) (left out)"))
                }
            case ("yaml", "onnx"), ("yml", "onnx"), ("prototxt", "onnx"), ("pbtxt", "onnx"):
                let (bytes, notes) = try ONNXExport.model(try netState.load(input), weights: weights)
                for note in notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
                try AtomicFile.write(bytes, to: output)
                printLine("wrote \(output): the deploy form as an ONNX model (opset 17)\(weights == nil ? ", with the fillers' weights: pass --weights for trained ones" : "")")
            case ("onnx", "yaml"), ("onnx", "yml"), ("onnx", "prototxt"):
                let spec = try netState.load(input)
                let text = to == "prototxt" ? try NetFileConversion.prototxt(spec, pathsRelativeTo: workingDirectory, netPath: output).net
                                            : try NetFileConversion.yaml(spec, pathsRelativeTo: outputFolder)
                let weightsPath = weightsOutput ?? URL(fileURLWithPath: output).deletingPathExtension().appendingPathExtension(to == "prototxt" ? "caffemodel" : "safetensors").path
                let weights = try TensorFiles.read(input)
                try AtomicFile.write(Array(text.utf8), to: output)
                try TensorFiles.write(weights, to: weightsPath)
                printLine("wrote \(output): \(spec.layers.count) layers, and \(weightsPath): \(weights.tensors.count) tensors")
            case ("caffemodel", "safetensors"):
                let tensors = try CaffeModel.read(path: input)
                try writeSafetensors(tensors)
            case ("safetensors", "caffemodel"):
                let (tensors, _) = try Safetensors.read(path: input)
                let ordered = try orderedByLayer(tensors)
                let bytes = try Safetensors.withBuffers(ordered) { try CaffeModel.encode($0, netName: URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent) }
                try AtomicFile.write(bytes, to: output)
                printLine("wrote \(output): \(ordered.count) blobs")
            case let (from, to) where Self.weightFormats.contains(from) && Self.weightFormats.contains(to) && from != to:
                let tensors = try TensorFiles.read(input)
                try TensorFiles.write(tensors, to: output)
                printLine("wrote \(output): \(tensors.tensors.count) tensors")
            case ("binaryproto", "npy"):
                let mean = try BinaryProto.read(path: input)
                try AtomicFile.write(NPYFile.encode(mean), to: output)
                printLine("wrote \(output): \(mean.shape.map(String.init).joined(separator: "×"))")
            case ("binaryproto", "safetensors"):
                try writeSafetensors(["mean": try BinaryProto.read(path: input)])
            default:
                throw SwiftCaffeError("cannot convert .\(from) to .\(to)",
                                      hint: "see 'swiftcaffe convert --help' for the pairs; IDX images need --labels")
            }
        }
    }

    /// The net to write: as read, or its deploy form (whose notes go to standard error).
    private func loadNet() throws -> NetSpec {
        let spec = try netState.load(input)
        guard deploy else { return spec }
        let form = try DeployNet(spec)
        for note in form.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        return form.spec
    }

    private func writeSafetensors(_ tensors: [String: Safetensors.Tensor]) throws {
        let ordered = tensors.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }
        let bytes = try Safetensors.withBuffers(ordered) { try Safetensors.encode($0) }
        try AtomicFile.write(bytes, to: output)
        printLine("wrote \(output): \(tensors.count) tensors")
    }

    /// Tensors named `<layer>.<index>` in layer-name order, each layer's blobs by index.
    private func orderedByLayer(_ tensors: [String: Safetensors.Tensor]) throws -> [(name: String, tensor: Safetensors.Tensor)] {
        func split(_ name: String) -> (String, Int) {
            guard let dot = name.lastIndex(of: "."), let index = Int(name[name.index(after: dot)...]) else { return (name, -1) }
            return (String(name[..<dot]), index)
        }
        return tensors.map { (name: $0.key, tensor: $0.value) }.sorted { split($0.name) < split($1.name) }
    }

    private func convertIDX(labels: String) throws {
        let live = isatty(1) != 0
        let list = try ImageFolder.write(images: input, labels: labels, to: output, format: format) { done, total in
            if live { print("\r\(done)/\(total) images", terminator: ""); fflush(nil) }
        }
        if live { print("") }
        printLine("wrote \(list)")
    }
}

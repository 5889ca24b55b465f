import ArgumentParser
import Foundation
import SwiftCaffe

/// `swiftcaffe jvp`: directional derivatives by forward mode. How much does each output (the
/// loss, the accuracy, every class score of the first images) move when the input moves along
/// one direction: all of it brighter, a random direction, or one read from a file.
struct JVPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jvp",
        abstract: "Directional derivatives of a net's outputs along an input direction (forward mode).",
        discussion: """
        Runs the net's test phase on its first batch (of --batch samples if given), or on \
        one picture (--input). The direction lives on the input blob \
        (--blob, default the first top of the first data layer): 'brighten' adds the same \
        amount to every input value, 'random' is a seeded direction with values in [-1, 1], \
        and a .safetensors file gives one tensor of the input's shape. Reports the derivative \
        of every scalar output and of each class score of the first --images images, and the \
        cost of forward mode (one pass with tangents) next to reverse mode (forward and \
        backward for the full gradient of the loss with respect to the input).
        """
    )

    @Argument(help: "The net (or solver) file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "Trained weights (.safetensors or .caffemodel); without them the fillers' values are used.")
    var weights: String?

    @Option(help: "brighten, random, or a .safetensors file with one tensor shaped like the input.")
    var direction: String = "brighten"

    @Option(help: "The input blob the direction is on (default: the data layer's first top).")
    var blob: String?

    @Option(help: "Images whose class scores are shown.")
    var images: Int = 2

    @Option(help: "Run on a batch of this many samples (sets the data layers' batch_size).")
    var batch: Int?

    @Option(help: "A PNG or JPEG picture to run on instead of the data set, prepared as the data layer prepares its test samples (resized, gray or BGR, its crop, mean and scale).")
    var input: String?

    @Option(help: "Which net: test (default) or train.")
    var phase: String = "test"

    @Option(help: "Seed of the random direction.")
    var seed: UInt64 = 1

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if !(0...1000).contains(images) { throw ValidationError("--images must be in [0, 1000]") }
        if let batch, !(1...1_000_000).contains(batch) { throw ValidationError("--batch must be in [1, 1000000]") }
        if input != nil && batch != nil { throw ValidationError("give --input or --batch, not both: a picture is a batch of one") }
        if Phase(rawValue: phase) == nil { throw ValidationError("--phase must be train or test") }
    }

    func run() throws {
        try runtime.run {
            var spec = try netState.load(net)
            let phase = Phase(rawValue: self.phase)!
            if let size = input != nil ? 1 : batch {
                guard spec.layers.contains(where: { $0.bottoms.isEmpty && $0.writtenKeys.contains("batch_size") }) else {
                    throw SwiftCaffeError("--batch and --input set a data layer's batch_size, and this net has none", hint: "drop them")
                }
                spec = try spec.setting("batch_size", to: "\(size)", inLayers: { $0.bottoms.isEmpty && $0.writtenKeys.contains("batch_size") })
            }
            let probe = try NetPlan(spec: spec, options: NetOptions(phase: phase))
            guard let input = blob ?? probe.layers.indices.first(where: { probe.bottoms[$0].isEmpty }).flatMap({ probe.tops[$0].first?.name }) else {
                throw SwiftCaffeError("the \(phase) net has no data layer to take a direction on", hint: "name the input blob with --blob")
            }
            guard probe.blobs[input] != nil else {
                throw SwiftCaffeError("the \(phase) net has no blob '\(input)'", hint: "--blob names a top of the net, such as its data")
            }
            if let producer = probe.layers.indices.last(where: { probe.tops[$0].contains { $0.name == input } }), !probe.bottoms[producer].isEmpty {
                throw SwiftCaffeError("--blob '\(input)' is computed by layer '\(probe.layers[producer].name)'; a direction goes on an input of the net",
                                      hint: "name a top of a data or Input layer, such as '\(probe.layers.indices.first { probe.bottoms[$0].isEmpty }.flatMap { probe.tops[$0].first?.name } ?? "data")'")
            }
            let net = try Net(spec: spec, options: NetOptions(phase: phase, inputGradients: [input]))
            printWarnings(of: net)
            if let weights {
                try net.loadWeights(from: weights)
            } else if spec.weightsFile == nil {
                printLine("no --weights: the fillers' initial values are used")
            }
            let size = net.blobs[input]!.count
            let values = try directionValues(count: size, shape: net.blobs[input]!.shape, input: input)
            let replacements = try picture(for: net.blobs[input]!, in: net).map { [input: $0] } ?? [:]

            // The same batch and dropout masks for every pass.
            let saved = net.layerStates()
            func restore() throws { try net.restoreLayerStates(saved) }

            var tangents: [String: Blob] = [:]
            let forwardSeconds = try medianSeconds {
                try restore()
                tangents = try net.forwardTangents(inputs: [input: values], values: replacements)
            }
            printLine("direction \(describeDirection()) on '\(input)' (\(net.blobs[input]!.shapeDescription))"
                + (self.input.map { ", the picture '\($0)' (the loss and accuracy use the data set's first label)" } ?? ""))
            for output in net.scalarOutputs {
                let derivative = tangents[output.name].map { Double($0.data[0]) } ?? 0
                printLine(String(format: "  %@ = %.6g, derivative %.6g", output.name, output.value, derivative))
            }
            if let (scores, classNames) = classScores(net), images > 0, let tangent = tangents[scores.name] {
                let classes = scores.count / max(scores.num, 1)
                for image in 0..<min(images, scores.num) {
                    let cells = (0..<classes).map { c in
                        let name = c < classNames.count ? classNames[c] : "\(c)"
                        return String(format: "%@ %.4g (%+.4g)", name, scores.data[image * classes + c], tangent.data[image * classes + c])
                    }
                    printLine("  image \(image), scores '\(scores.name)' (derivative): " + cells.joined(separator: ", "))
                }
            }
            let reverseSeconds = try medianSeconds {
                try restore()
                try net.forward(replacing: replacements)
                net.backward()
            }
            printLine(String(format: "forward mode (one pass with tangents): %.2f ms; reverse mode (forward + backward, the full gradient of the loss): %.2f ms",
                             forwardSeconds * 1e3, reverseSeconds * 1e3))
            try restore()
        }
    }

    /// The picture from --input as the input blob's values, prepared by the layer that serves
    /// the blob as it prepares its own test samples (`PictureSource`: resized, gray or BGR,
    /// its transform).
    private func picture(for blob: Blob, in net: Net) throws -> [Float]? {
        guard let input else { return nil }
        guard let source = net.plan.producer(of: blob) as? any PictureSource, blob.shape.count == 4, blob.shape[0] == 1 else {
            throw SwiftCaffeError("'\(blob.name)' (\(blob.shapeDescription)) is not a picture from an IDXData, ImageData or Input layer",
                                  hint: "--input feeds the net's picture layer; drop --blob, or name that layer's top")
        }
        let image = try RasterImage(path: input, channels: source.pictureChannels)
        var values = [Float](repeating: 0, count: blob.count)
        values.withUnsafeMutableBufferPointer { source.sample(from: image, into: $0.baseAddress!) }
        return values
    }

    private func describeDirection() -> String {
        switch direction {
        case "brighten": "brighten (+1 on every value)"
        case "random": "random (seed \(seed))"
        default: "from '\(direction)'"
        }
    }

    private func directionValues(count: Int, shape: [Int], input: String) throws -> [Float] {
        switch direction {
        case "brighten":
            return [Float](repeating: 1, count: count)
        case "random":
            var rng = RandomGenerator(seed: seed, stream: "jvp")
            return (0..<count).map { _ in rng.uniform(-1, 1) }
        default:
            guard direction.hasSuffix(".safetensors") else {
                throw SwiftCaffeError("--direction is '\(direction)', not brighten, random or a .safetensors file")
            }
            let (tensors, _) = try Safetensors.read(path: direction)
            guard tensors.count == 1, let tensor = tensors.values.first else {
                throw SwiftCaffeError("'\(direction)' holds \(tensors.count) tensors; a direction is one", hint: "save one tensor shaped \(shape)")
            }
            guard tensor.values.count == count else {
                throw SwiftCaffeError("'\(direction)' holds a tensor of shape \(tensor.shape), but '\(input)' is \(shape)")
            }
            guard tensor.values.allSatisfy(\.isFinite) else { throw SwiftCaffeError("'\(direction)' holds values that are not finite") }
            return tensor.values
        }
    }

    /// The scores the net's classifier reads, with the data layer's class names.
    private func classScores(_ net: Net) -> (Blob, [String])? {
        net.plan.classifier.map { ($0.scores, net.dataSources.first?.labelNames ?? []) }
    }

    /// The median wall time of five runs of `body`, after one untimed run.
    private func medianSeconds(_ body: () throws -> Void) throws -> Double {
        try body()
        var times: [Double] = []
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return times.sorted()[2]
    }
}

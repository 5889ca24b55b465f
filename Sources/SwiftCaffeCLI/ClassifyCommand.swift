import ArgumentParser
import Foundation
import SwiftCaffe

/// `swiftcaffe classify`: Caffe's classification example. Each picture is prepared as the
/// net's picture layer prepares its test samples (see `Classifier`).
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "The most probable classes of PNG or JPEG pictures, by a trained net.",
        discussion: """
        NET is a train/test net (its test-phase data layer says how pictures are prepared: \
        size, gray or colour, crop, mean, scale) or a deploy net with an Input layer (with \
        'scale' and 'mean_value' on it if the net was trained with them). Prints, for each \
        picture, the top classes with their probabilities and label names.
        """
    )

    @Argument(help: "The net file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @Option(help: "The trained weights (.safetensors or .caffemodel); an ONNX model carries its own.")
    var weights: String?

    @Argument(help: "PNG or JPEG pictures.")
    var pictures: [String]

    @Option(help: "How many classes to show for each picture.")
    var top: Int = 5

    @Option(help: "Class names, one per line in class order (Caffe's synset_words.txt), instead of the net's.")
    var labels: String?

    @Option(name: .customLong("mean-file"), help: "A mean image (.binaryproto or .npy) whose per-channel means are subtracted from each picture, as Caffe's classification example does.")
    var meanFile: String?

    @OptionGroup var netState: NetStateOptions

    @OptionGroup var output: JSONOption

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if pictures.isEmpty { throw ValidationError("give at least one picture") }
        if !(1...1000).contains(top) { throw ValidationError("--top must be between 1 and 1000") }
    }

    func run() throws {
        try runtime.run {
            let classifier = try Classifier(net: net, weights: weights, labels: labels, meanFile: meanFile, state: netState.state)
            if output.json {
                let results = try pictures.map { picture in
                    ["picture": picture, "top": try classifier.classify(path: picture, top: top).map { prediction in
                        ["label": prediction.label, "name": prediction.name, "probability": jsonNumber(prediction.probability)] as [String: Any]
                    }] as [String: Any]
                }
                printJSON(["net": net, "weights": weights ?? NSNull(), "pictures": results])
                return
            }
            for picture in pictures {
                let predictions = try classifier.classify(path: picture, top: top)
                printLine(picture)
                for prediction in predictions {
                    printLine(String(format: "  %.4f  %@", prediction.probability,
                                     prediction.name == "\(prediction.label)" ? prediction.name : "\(prediction.label) \(prediction.name)"))
                }
            }
        }
    }
}

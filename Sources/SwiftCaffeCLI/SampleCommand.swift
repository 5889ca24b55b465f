import ArgumentParser
import Foundation
import SwiftCaffe

/// `swiftcaffe sample`: text written by a trained character-level net, one character at a time.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a trained character-level net (one with a TextData layer).",
        discussion: """
        Builds the net's test phase for one stream of one character, loads the weights, feeds \
        the prime and then each character it draws back in. The recurrent layers carry their \
        state from one character to the next. Prints the prime and what follows.
        """
    )

    @Argument(help: "The net (or solver) file the weights were trained with: YAML, or Caffe's .prototxt.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "Trained weights (.safetensors or .caffemodel), e.g. a snapshot.")
    var weights: String

    @Option(help: "Characters to write.")
    var length: Int = 400

    @Option(help: "Softens (above 1) or sharpens (below 1) the net's distribution; 0 always takes the likeliest character.")
    var temperature: Float = 0.8

    @Option(help: "Text to start from (escape a newline as \\n).")
    var prime: String = "\\n"

    @Option(help: "The blob of class scores (default: what the loss on the text's targets reads).")
    var scores: String?

    @Option(help: "Seed of the draws.")
    var seed: UInt64 = 1

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if !(0...1_000_000).contains(length) { throw ValidationError("--length must be in [0, 1000000]") }
        if !(temperature >= 0 && temperature <= 100) { throw ValidationError("--temperature must be in [0, 100]") }
    }

    func run() throws {
        try runtime.run {
            let spec = try TextGenerator.spec(for: try netState.load(net))
            let net = try Net(spec: spec, phase: .test)
            printWarnings(of: net)
            try net.loadWeights(from: weights)
            let start = prime.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t")
            let generator = try TextGenerator(net: net, scores: scores)
            let text = try generator.generate(prime: start, length: length, temperature: temperature, seed: seed)
            printLine(start + text)
        }
    }
}

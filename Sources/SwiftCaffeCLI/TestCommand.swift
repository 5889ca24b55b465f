import ArgumentParser
import Foundation
import SwiftCaffe

struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Score trained weights on the net's test-phase data."
    )

    @Argument(help: "The net (or solver) file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "The weights (.safetensors or .caffemodel) to score; a net without learnable parameters needs none.")
    var weights: String?

    @Option(help: "Batches to run (default: the whole test set).")
    var iterations: Int?

    @OptionGroup var output: JSONOption

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if let iterations, !(1...SolverSpec.iterationLimit).contains(iterations) {
            throw ValidationError("--iterations must be in [1, \(SolverSpec.iterationLimit)]")
        }
    }

    func run() throws {
        try runtime.run {
            let spec = try netState.load(net)
            let testNet = try Net(spec: spec, options: NetOptions(phase: .test, purpose: .inference))
            printWarnings(of: testNet)
            if let weights {
                try testNet.loadWeights(from: weights)
            } else if spec.weightsFile == nil, let first = testNet.parameters.first {
                throw SwiftCaffeError("the net has learnable parameters ('\(first.name)', ...) and no --weights were given",
                                      hint: "pass the trained weights with --weights")
            }
            guard !testNet.dataSources.isEmpty else {
                throw SwiftCaffeError("the test net has no data layer", hint: "add a data layer with 'phase: test'")
            }
            let result = try Evaluation.run(testNet, iterations: iterations)
            if output.json {
                var object: [String: Any] = [
                    "net": spec.name, "weights": weights ?? NSNull(), "batches": result.batches, "samples": result.images,
                    "sample_noun": result.sampleNoun,
                    "outputs": Dictionary(result.outputs.map { ($0.name, jsonNumber($0.value)) }, uniquingKeysWith: { first, _ in first }),
                ]
                if let confusion = result.confusion {
                    object["confusion"] = confusion
                    object["classes"] = result.classNames
                    object["per_class_accuracy"] = result.perClassAccuracy.map { $0.map(jsonNumber) } ?? NSNull()
                }
                printJSON(object)
                return
            }
            for output in result.outputs { printLine(String(format: "%@ = %.4f", output.name, output.value)) }
            printLine("\(result.images) \(result.sampleNoun) in \(result.batches) batches")
            if let table = confusionTable(result) { printLine("\n" + table) }
        }
    }
}

import ArgumentParser
import Foundation
import SwiftCaffe

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a net and save its weights.",
        discussion: "NET is a net file with a 'solver:' section, or a solver file that names its 'net:'."
    )

    @Argument(help: "The net (or solver) YAML file.")
    var net: String

    @Option(help: "Train for this many epochs (overrides the solver).")
    var epochs: Double?

    @Option(name: .customLong("max-iter"), help: "Train for this many iterations (overrides the solver).")
    var maxIter: Int?

    @Option(name: .customLong("base-lr"), help: "The base learning rate (overrides the solver).")
    var baseLR: Float?

    @Option(help: "Random seed for initialisation and shuffling (default: the solver's random_seed, else 1).")
    var seed: UInt64?

    @Option(help: "Folder for the weights (default: the solver's snapshot_prefix folder).")
    var output: String?

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if let epochs, !(epochs > 0 && epochs.isFinite) { throw ValidationError("--epochs must be positive") }
        if let maxIter, maxIter < 1 { throw ValidationError("--max-iter must be at least 1") }
        if let baseLR, !(baseLR > 0 && baseLR.isFinite) { throw ValidationError("--base-lr must be positive") }
        if epochs != nil && maxIter != nil { throw ValidationError("give --epochs or --max-iter, not both") }
    }

    func run() throws {
        try runtime.run {
            let spec = try NetSpec.load(path: net)
            let trainer = try Trainer(spec: spec, options: TrainingOptions(epochs: epochs, maxIter: maxIter, baseLR: baseLR, seed: seed))
            let source = trainer.trainNet.dataSources[0]
            printLine("\(spec.name): \(trainer.maxIter) iterations of batch \(source.batchSize) "
                + "(\(String(format: "%.2f", Double(trainer.maxIter * source.batchSize) / Double(source.sampleCount))) epochs of \(source.sampleCount) images), "
                + "seed \(trainer.seed), \(Parallel.threads) thread(s)")
            try trainer.run { event in
                switch event {
                case let .progress(iteration, maxIter, epoch, loss, rate, speed):
                    printLine(String(format: "iter %6d/%d  epoch %5.2f  loss %.4f  lr %.6g  %6.0f img/s", iteration, maxIter, epoch, loss, rate, speed))
                case let .test(result):
                    printLine("test  iter \(result.iteration): " + describe(result))
                }
            }
            let path = trainer.weightsPath(output: output)
            try trainer.trainNet.saveWeights(to: path, metadata: ["net": spec.name, "iteration": "\(trainer.iteration)", "format": "swiftcaffe"])
            let images = Double(trainer.iteration * source.batchSize)
            let peak = ProcessMemory.peakResidentBytes.map { String(format: ", peak memory %.0f MB", Double($0) / 1e6) } ?? ""
            printLine(String(format: "trained %d iterations in %.1f s (%.0f images/s; %.1f s per epoch; testing %.1f s)%@",
                             trainer.iteration, trainer.trainingSeconds, images / trainer.trainingSeconds,
                             trainer.trainingSeconds * Double(source.sampleCount) / images, trainer.testingSeconds, peak))
            printLine("weights saved to \(path)")
        }
    }
}

/// `loss 0.4123  accuracy 0.8567  (10000 images)`.
func describe(_ result: TestResult) -> String {
    result.outputs.map { String(format: "%@ %.4f", $0.name, $0.value) }.joined(separator: "  ") + "  (\(result.images) images)"
}

import ArgumentParser
import Foundation
import SwiftCaffe

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a net, writing snapshots and a CSV log.",
        discussion: """
        NET is a net file with a 'solver:' section, or a solver file that names its 'net:'. \
        Snapshots go to <prefix>_iter_<N>.safetensors (weights) and .solverstate (everything \
        needed to resume), the log to <prefix>_log.csv. Ctrl-C snapshots and exits; a second \
        Ctrl-C exits at once.
        """
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

    @Option(help: "Folder for snapshots and the log (default: the solver's snapshot_prefix folder).")
    var output: String?

    @Option(help: "Continue exactly from a .solverstate snapshot.")
    var resume: String?

    @Option(help: "Initialise from trained weights (.safetensors), matching layers by name (fine-tuning).")
    var weights: String?

    @Flag(help: "With --weights: every parameter must be in the file.")
    var strict = false

    @Flag(help: "Print only the summary and errors.")
    var quiet = false

    @Flag(help: "Print every display line even on a terminal, and each test's confusion matrix.")
    var verbose = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if let epochs, !(epochs > 0 && epochs.isFinite) { throw ValidationError("--epochs must be positive") }
        if let maxIter, maxIter < 1 { throw ValidationError("--max-iter must be at least 1") }
        if let baseLR, !(baseLR > 0 && baseLR.isFinite) { throw ValidationError("--base-lr must be positive") }
        if epochs != nil && maxIter != nil { throw ValidationError("give --epochs or --max-iter, not both") }
        if resume != nil && weights != nil { throw ValidationError("give --resume or --weights, not both: a resumed run has its weights") }
        if strict && weights == nil { throw ValidationError("--strict goes with --weights") }
        if quiet && verbose { throw ValidationError("give --quiet or --verbose, not both") }
    }

    func run() throws {
        try runtime.run {
            let spec = try NetSpec.load(path: net)
            let trainer = try Trainer(spec: spec, options: TrainingOptions(epochs: epochs, maxIter: maxIter, baseLR: baseLR,
                                                                           seed: seed, output: output))
            printWarnings(of: trainer.trainNet)
            if let testNet = trainer.testNet { printWarnings(of: testNet) }
            if let resume { try trainer.resume(from: resume) }
            if let weights {
                let kept = try trainer.trainNet.loadWeights(from: weights, requireAll: strict)
                if !kept.isEmpty && !quiet { printLine("not in \(weights), initialised by their fillers: \(kept.joined(separator: ", "))") }
            }
            let source = trainer.trainNet.dataSources[0]
            let display = ProgressDisplay(batchImages: source.batchSize * trainer.solverSpec.iterSize, sampleNoun: source.sampleNoun,
                                          live: isatty(1) != 0 && !verbose, quiet: quiet, verbose: verbose)
            if !quiet {
                printLine("\(spec.name): \(trainer.maxIter) iterations of \(source.batchSize * trainer.solverSpec.iterSize) \(source.sampleNoun) "
                    + "(\(String(format: "%.2f", Double(trainer.maxIter) * Double(source.batchSize * trainer.solverSpec.iterSize) / Double(source.sampleCount))) epochs of \(source.sampleCount)), "
                    + "\(trainer.solverSpec.type.rawValue), seed \(trainer.seed), \(Parallel.threads) thread(s)"
                    + (trainer.iteration > 0 ? ", resuming at iteration \(trainer.iteration)" : ""))
            }
            Interrupts.install()
            trainer.shouldStop = { Interrupts.requested }
            var lastWeights = ""
            let outcome = try trainer.run { event in
                if case .snapshot(let weights, _) = event { lastWeights = weights }
                display.show(event)
            }
            display.finish()
            let images = Double(trainer.iteration) * Double(source.batchSize * trainer.solverSpec.iterSize)
            let peak = ProcessMemory.peakResidentBytes.map { String(format: ", peak memory %.0f MB", Double($0) / 1e6) } ?? ""
            printLine(String(format: "trained %d iterations in %.1f s (%.0f %@/s; %.1f s per epoch; testing %.1f s)%@",
                             trainer.iteration, trainer.trainingSeconds, images / max(trainer.trainingSeconds, 1e-9), source.sampleNoun,
                             trainer.trainingSeconds * Double(source.sampleCount) / max(images, 1), trainer.testingSeconds, peak))
            printLine("weights saved to \(lastWeights)")
            if outcome == .interrupted {
                // The same command line with --resume pointing at the new state.
                var arguments = Array(CommandLine.arguments.dropFirst())
                if let index = arguments.firstIndex(of: "--resume"), index + 1 < arguments.count { arguments.removeSubrange(index...(index + 1)) }
                arguments += ["--resume", "\(trainer.prefix)_iter_\(trainer.iteration).solverstate"]
                printLine("interrupted; continue with: swiftcaffe " + arguments.joined(separator: " "))
            }
        }
    }
}

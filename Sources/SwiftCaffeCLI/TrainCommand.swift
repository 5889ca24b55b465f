import ArgumentParser
import Foundation
import SwiftCaffe
import SwiftCaffeDistributed

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a net, writing snapshots and a CSV log.",
        discussion: """
        NET is a net file with a 'solver:' section, or a solver file that names its 'net:'. \
        Snapshots go to <prefix>_iter_<N>.safetensors (weights) and .solverstate (everything \
        needed to resume), the log to <prefix>_log.csv. Ctrl-C snapshots and exits; a second \
        Ctrl-C exits at once.

        Started by mpirun ('mpirun -np 4 swiftcaffe train NET'), it is one rank of a \
        data-parallel run: batch_size is per rank, gradients are summed over the ranks before \
        every update, and rank 0 prints, logs and writes snapshots (docs/distributed.md). \
        '--replicas N' does the same inside one process, splitting each batch_size among N \
        replicas: two replicas train faster than two threads on two cores.
        """
    )

    @Argument(help: "The net (or solver) file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "Train for this many epochs (overrides the solver).")
    var epochs: Double?

    @Option(name: .customLong("max-iter"), help: "Train for this many iterations (overrides the solver).")
    var maxIter: Int?

    @Option(name: .customLong("base-lr"), help: "The base learning rate (overrides the solver).")
    var baseLR: Float?

    @Option(help: "Random seed for initialisation and shuffling (default: the solver's random_seed, else 1).")
    var seed: UInt64?

    @Option(name: .shortAndLong, help: "Folder for snapshots and the log (default: the solver's snapshot_prefix folder, else runs/).")
    var output: String?

    @Option(help: "Continue exactly from a .solverstate snapshot.")
    var resume: String?

    @Option(help: "Initialise from trained weights (.safetensors or .caffemodel), matching layers by name (fine-tuning).")
    var weights: String?

    @Flag(help: "Replace an earlier run's log and snapshots with the same prefix (by default this run takes the next free numbered prefix, <prefix>-2, ...).")
    var force = false

    @Flag(help: "With --weights: every parameter must be in the file.")
    var strict = false

    @Flag(help: "Print only the summary and errors.")
    var quiet = false

    @Flag(help: "Print every display line even on a terminal, and each test's confusion matrix.")
    var verbose = false

    @Option(name: .customLong("sync-timeout"), help: "Under mpirun: seconds a rank waits for the others before it gives up.")
    var syncTimeout: Double = 600

    @Option(help: ArgumentHelp("Train N replicas of the net in this process, each on its own thread(s) and slice of every batch, summing gradients before each update (as mpirun ranks do).",
                               discussion: "Every batch_size is split among them, so the file's batch stays the global batch. BatchNorm takes its statistics per replica, over its slice."))
    var replicas = 1

    @Option(help: ArgumentHelp("Serve a page that shows the run live at [HOST:]PORT: curves, layers, filters, feature maps, confusion matrix (docs/monitor.md).",
                               discussion: "Loopback only unless HOST is given (0.0.0.0: every interface). The page is 'swiftcaffe board' on this run; it stays readable afterwards with 'swiftcaffe board <output folder>'.",
                               valueName: "[host:]port"))
    var monitor: String?

    @OptionGroup var runtime: RuntimeOptions

    /// `--monitor`'s host and port.
    var monitorAddress: (host: String, port: Int)? {
        guard let monitor else { return nil }
        let parts = monitor.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let port = Int(parts.last!), (0...65535).contains(port), parts.count == 1 || !parts[0].isEmpty else { return nil }
        return (parts.count == 2 ? String(parts[0]) : "127.0.0.1", port)
    }

    func validate() throws {
        if monitor != nil && monitorAddress == nil { throw ValidationError("--monitor takes PORT or HOST:PORT, the port between 0 and 65535 (e.g. --monitor 6006)") }
        if let epochs, !(epochs > 0 && epochs.isFinite) { throw ValidationError("--epochs must be positive") }
        if let maxIter, maxIter < 1 { throw ValidationError("--max-iter must be at least 1") }
        if let baseLR, !(baseLR > 0 && baseLR.isFinite) { throw ValidationError("--base-lr must be positive") }
        if epochs != nil && maxIter != nil { throw ValidationError("give --epochs or --max-iter, not both") }
        if resume != nil && weights != nil { throw ValidationError("give --resume or --weights, not both: a resumed run has its weights") }
        if resume != nil && force { throw ValidationError("give --resume or --force, not both: a resumed run continues its own files") }
        if strict && weights == nil { throw ValidationError("--strict goes with --weights") }
        if quiet && verbose { throw ValidationError("give --quiet or --verbose, not both") }
        if !(syncTimeout >= 1 && syncTimeout <= 1e6) { throw ValidationError("--sync-timeout must be between 1 and 1000000 seconds") }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if !(1...max(cores, 1)).contains(replicas) {
            throw ValidationError("--replicas must be between 1 and the \(cores) core(s) of this machine: each replica trains on a core of its own")
        }
        if replicas > 1 && MPIProcessGroup.isLaunchedByMPI { throw ValidationError("--replicas is for one process: under mpirun, start more ranks instead") }
    }

    func run() throws {
        if replicas > 1 {
            // Each replica gets its share of the cores, as each rank does under mpirun.
            let threadsEach = max(1, (runtime.threads ?? RuntimeOptions.defaultThreads) / replicas)
            let command = self
            Interrupts.install()
            try runtime.run {
                // The replicas build their nets side by side, each checking only its own against
                // what the process may take: check them together first.
                let spec = try netState.load(net, quiet: true).splittingBatches(among: replicas)
                let one = try NetPlan(spec: spec, options: NetOptions(phase: .train, purpose: .training)).memory.totalBytes
                try MemoryBudget.require(one.multipliedReportingOverflow(by: replicas).overflow ? .max : one * replicas,
                                         for: "\(replicas) replicas of the train net",
                                         hint: "train with fewer replicas, or allow more memory (--memory-limit, ulimit -v)")
                try ReplicaGroup.run(count: replicas, threadsPerReplica: threadsEach) { group in
                    try command.train(group: group)
                }
            }
            return
        }
        // Under mpirun this process is one rank; alone (or with -np 1) it trains as always.
        var joined: MPIProcessGroup?
        if MPIProcessGroup.isLaunchedByMPI { try reportingErrors { joined = try MPIProcessGroup(timeout: syncTimeout) } }
        if joined?.size == 1 { joined?.finish(); joined = nil }
        let mpi = joined
        defer { mpi?.finish() }
        do {
            try runtime.run {
                do { try train(group: mpi ?? SingleProcess()) } catch let error as SwiftCaffeError where mpi != nil {
                    throw error.during("on rank \(mpi!.rank) of \(mpi!.size)")
                }
            }
        } catch {
            // Errors on one rank leave the others waiting in a collective: end them all now.
            if let mpi, mpi.size > 1 { fflush(nil); mpi.abort() }
            throw error
        }
    }

    private func train(group: any ProcessGroup) throws {
        let root = group.rank == 0, together = group.size > 1
        let quiet = self.quiet || !root
        let spec = try netState.load(net, quiet: !root).splittingBatches(among: replicas)
        let members = replicas > 1 ? "replicas" : "ranks"
        let trainer = try Trainer(spec: spec, options: TrainingOptions(epochs: epochs, maxIter: maxIter, baseLR: baseLR,
                                                                       seed: seed, output: output, overwrite: force), group: group)
        if root {
            printWarnings(of: trainer.trainNet)
            if let testNet = trainer.testNet { printWarnings(of: testNet) }
        }
        // Rank 0 loads; the run starts by broadcasting its state to the others.
        if root, let resume { try trainer.resume(from: resume) }
        if root, let weights {
            let kept = try trainer.trainNet.loadWeights(from: weights, requireAll: strict)
            if !kept.isEmpty && !quiet { printLine("not in \(weights), initialised by their fillers: \(kept.joined(separator: ", "))") }
        }
        if root {
            try trainer.claimOutput()
            if let earlier = trainer.movedFrom, !quiet {
                printLine("\(earlier)_* are an earlier run's; this run writes \(trainer.prefix)_* (--force replaces the earlier run)")
            }
        }
        // The board serves this run's files, so it starts once the run's prefix is settled.
        let watcher = try root ? monitorAddress.map { try MonitorProcess(prefix: trainer.prefix, host: $0.host, port: $0.port) } : nil
        defer { watcher?.finish() }
        if let watcher { printLine("monitor: \(watcher.url) (the page stays readable afterwards with 'swiftcaffe board \(URL(fileURLWithPath: trainer.prefix).deletingLastPathComponent().path)')") }
        let source = trainer.trainNet.dataSources[0]
        let batch = trainer.imagesPerIteration
        // Under mpirun a rank's output is a pseudo-terminal even when mpirun's own goes to a
        // file, so a live line there would fill the log with redraws: plain lines instead.
        let display = ProgressDisplay(batchImages: batch, sampleNoun: source.sampleNoun,
                                      live: isatty(1) != 0 && !verbose && !MPIProcessGroup.isLaunchedByMPI, quiet: quiet, verbose: verbose)
        if !quiet {
            let ranks = together ? " (\(group.size) \(members) × \(batch / group.size))" : ""
            printLine("\(spec.name): \(trainer.maxIter) iterations of \(batch) \(source.sampleNoun)\(ranks) "
                + "(\(String(format: "%.2f", Double(trainer.maxIter) * Double(batch) / Double(source.sampleCount))) epochs of \(source.sampleCount)), "
                + "\(trainer.solverSpec.type.rawValue), seed \(trainer.seed), \(Parallel.threads) thread(s)\(together ? " per \(members.dropLast())" : "")"
                + (trainer.iteration > 0 ? ", resuming at iteration \(trainer.iteration)" : ""))
        }
        if replicas == 1 { Interrupts.install(announcing: root) }  // replicas: installed once, in run()
        trainer.shouldStop = { Interrupts.requested }
        if let watcher { trainer.recorded = { watcher.wake() } }
        var lastWeights = ""
        var checksum: UInt64?
        let outcome = try trainer.run(logging: root) { event in
            if case .snapshot(let weights, _) = event { lastWeights = weights }
            if case .replicasAgree(let sum) = event { checksum = sum }
            display.show(event)
        }
        display.finish()
        guard root else { return }
        let images = Double(trainer.iteration) * Double(batch)
        let peak = ProcessMemory.peakResidentBytes.map { String(format: ", peak memory %.0f MB", Double($0) / 1e6) } ?? ""
        printLine(String(format: "trained %d iterations in %.1f s (%.0f %@/s; %.1f s per epoch; testing %.1f s)%@",
                         trainer.iteration, trainer.trainingSeconds, images / max(trainer.trainingSeconds, 1e-9), source.sampleNoun,
                         trainer.trainingSeconds * Double(source.sampleCount) / max(images, 1), trainer.testingSeconds, peak))
        if together {
            printLine(String(format: "%d %@: waiting for the others %.2f ms per iteration (%.1f%% of training time); weights identical on every %@ (checksum %016llx)",
                             group.size, members, group.waitingSeconds * 1000 / Double(max(trainer.iteration, 1)),
                             100 * group.waitingSeconds / max(trainer.trainingSeconds + trainer.testingSeconds, 1e-9),
                             String(members.dropLast()), checksum ?? 0))
        }
        printLine("weights saved to \(lastWeights)")
        if outcome == .interrupted {
            // The same command line with --resume pointing at the new state.
            var arguments = Array(CommandLine.arguments.dropFirst())
            if let index = arguments.firstIndex(of: "--resume"), index + 1 < arguments.count { arguments.removeSubrange(index...(index + 1)) }
            arguments += ["--resume", "\(trainer.prefix)_iter_\(trainer.iteration).solverstate"]
            let launcher = replicas == 1 && together ? "mpirun -np \(group.size) " : ""
            printLine("interrupted; continue with: \(launcher)swiftcaffe " + arguments.joined(separator: " "))
        }
    }
}

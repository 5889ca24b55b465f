import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeSpec

/// Where a run stands after an iteration.
public struct TrainingProgress: Sendable {
    public var iteration: Int
    public var maxIter: Int
    public var epoch: Double
    /// The displayed loss: the mean of the last `average_loss` iteration losses.
    public var loss: Float
    public var learningRate: Float
    public var imagesPerSecond: Double
    /// In data-parallel training, the mean seconds per iteration spent waiting for the other
    /// ranks since the last displayed line (0 when training alone).
    public var communicationSeconds: Double = 0
    /// True every `display` iterations and at the end (these go to the log and to plain
    /// output); false for the live updates between, at most ten a second.
    public var isDisplayed: Bool
}

/// What a training run reports as it goes; the command line turns these into output.
public enum TrainingEvent {
    case progress(TrainingProgress)
    case test(TestResult)
    case snapshot(weights: String, state: String)
    /// Data-parallel training: every rank's weights hash to this `Net.weightsChecksum()`
    /// (checked at every snapshot).
    case replicasAgree(checksum: UInt64)
}

/// How a run ended.
public enum TrainingOutcome: Equatable {
    case finished
    /// Stopped on request (Ctrl-C) after snapshotting.
    case interrupted
}

/// Settings of a run that the command line may override over the solver spec.
public struct TrainingOptions {
    public var epochs: Double?
    public var maxIter: Int?
    public var baseLR: Float?
    public var seed: UInt64?
    /// Folder for snapshots and the log, instead of the `snapshot_prefix` folder.
    public var output: String?
    /// Replace an earlier run's log and snapshots in the folder rather than refusing (`--force`).
    public var overwrite: Bool
    /// Build both nets as written (`NetPurpose.asWritten`): every blob keeps its values after
    /// a pass and no layer is folded into another, for a caller that reads or writes them
    /// between steps (the Python API's `solver.net.blobs`). Slower: off by default.
    public var asWritten: Bool
    /// The extension of snapshot weights files: `safetensors`, or a registered format such as
    /// `caffemodel` (what a script written for Caffe expects to find).
    public var weightsExtension: String

    public init(epochs: Double? = nil, maxIter: Int? = nil, baseLR: Float? = nil, seed: UInt64? = nil, output: String? = nil,
                overwrite: Bool = false, asWritten: Bool = false, weightsExtension: String = "safetensors") {
        self.epochs = epochs
        self.maxIter = maxIter
        self.baseLR = baseLR
        self.seed = seed
        self.output = output
        self.overwrite = overwrite
        self.asWritten = asWritten
        self.weightsExtension = weightsExtension
    }
}

/// The training loop: builds the train net and a test net that shares its weights, runs the
/// solver for the configured iterations or epochs, reports progress, tests, writes the log
/// and snapshots, and stops cleanly when asked.
///
/// It is one rank of a `ProcessGroup` (a process training alone is the group of one): its
/// data layers serve their slice of each global batch, gradients are summed over the ranks
/// before each update, tests are scored over all ranks' shares, and only rank 0 logs and
/// writes snapshots (`TrainerCollectives.swift`). Iterations, epochs and the schedule count in
/// global batches.
public final class Trainer {
    public let spec: NetSpec
    public let solverSpec: SolverSpec
    public let trainNet: Net
    public let testNet: Net?
    public let solver: Solver
    public let maxIter: Int
    public let seed: UInt64
    /// The ranks training together; a `SingleProcess` when training alone.
    public let group: any ProcessGroup
    /// `<folder>/<name>`: snapshots are `<prefix>_iter_<N>.safetensors` and `.solverstate`,
    /// the log `<prefix>_log.csv`. A new run never writes over another run's files: see
    /// `claimOutput()`. A resumed run continues beside its state file.
    public internal(set) var prefix: String
    /// The folder the run wanted when `claimOutput()` moved it to a numbered one, for messages.
    public internal(set) var movedFrom: String?
    let options: TrainingOptions
    /// Whether `claimOutput()` ran (a resumed run has its files already).
    var outputClaimed = false
    /// Whether the first step has made every rank start from rank 0's state.
    var started = false
    public internal(set) var iteration = 0
    /// Wall-clock seconds spent training and testing so far (kept apart for throughput).
    public internal(set) var trainingSeconds = 0.0
    public internal(set) var testingSeconds = 0.0
    /// Checked after every iteration; when it returns true the run snapshots and returns.
    public var shouldStop: () -> Bool = { false }
    /// Called after each line the run adds to its record: `train --monitor` wakes its board.
    public var recorded: () -> Void = {}
    /// The last `average_loss` iteration losses, oldest first (saved in snapshots).
    var recentLosses: [Float] = []
    var log: TrainingLog?
    /// What the run did beyond the log (`<prefix>_events.jsonl`), with what it measures for it;
    /// written wherever the log is.
    var record: TrainingRecord?
    var observations: TrainingObservations?
    /// This rank's samples per pass, and the data set's size.
    let batchSize: Int
    let epochSize: Int
    /// The parameter blobs whose gradients are complete once the layer at each index has run
    /// backward: where summing them over the ranks starts.
    var gradientsReady: [Int: [Blob]] = [:]

    /// The seed used when neither the solver's `random_seed` nor `--seed` gives one, so that
    /// runs are reproducible by default.
    public static let defaultSeed: UInt64 = 1

    public init(spec: NetSpec, options: TrainingOptions = TrainingOptions(), group: any ProcessGroup = SingleProcess()) throws {
        self.spec = spec
        self.group = group
        let shard = group.shard
        var solverSpec = spec.solver ?? SolverSpec()
        if let rate = options.baseLR { solverSpec.baseLR = rate }
        self.solverSpec = solverSpec
        seed = options.seed ?? solverSpec.randomSeed ?? Self.defaultSeed
        trainNet = try Net(spec: spec, options: NetOptions(phase: .train, seed: seed, purpose: options.asWritten ? .asWritten : .training, shard: shard))
        // As in Caffe, a solver's test_iter asks for a test net even when no layer is
        // test-only: the same layers in the test phase.
        let hasTestLayers = spec.layers.contains { $0.phase == .test } || solverSpec.testIter != nil
        // The test net only ever runs forward. It keeps the blobs the record's pictures show
        // (an image and the first maps).
        let kept = TrainingObservations.keptBlobs(spec, filterLayer: TrainingObservations.filterLayer(trainNet)?.name)
        testNet = hasTestLayers ? try Net(spec: spec, options: NetOptions(phase: .test, seed: seed, purpose: options.asWritten ? .asWritten : .inference, shard: shard,
                                                                          keeping: kept, sharingParametersWith: trainNet)) : nil

        guard let source = trainNet.dataSources.first else {
            throw SwiftCaffeError("the train net has no data layer", at: spec.layers.first?.location,
                                  hint: "add a data layer such as IDXData with 'phase: train'")
        }
        batchSize = source.batchSize
        epochSize = source.sampleCount
        let imagesPerIteration = batchSize * solverSpec.iterSize * shard.count
        let limit = SolverSpec.iterationLimit
        let epochs = options.epochs ?? (options.maxIter == nil ? solverSpec.epochs : nil)
        if let epochs {
            // In Double, then checked: --epochs 1e300 is a number of iterations no Int holds.
            let iterations = (epochs * Double(epochSize) / Double(imagesPerIteration)).rounded(.up)
            guard let whole = Int(whole: max(1, iterations), in: 1...limit) else {
                let source = options.epochs != nil ? "--epochs \(epochs)" : "\(epochs) epochs"
                throw SwiftCaffeError("\(source) of \(epochSize) samples in batches of \(imagesPerIteration) is \(iterations) iterations, more than the \(limit) a run may have",
                                      at: options.epochs == nil ? solverSpec.epochsLocation : nil,
                                      hint: "train for fewer epochs")
            }
            maxIter = whole
        } else if let iterations = options.maxIter ?? solverSpec.maxIter {
            // The file's max_iter is range-checked where it is read; the flag's is checked here.
            guard (1...limit).contains(iterations) else {
                throw SwiftCaffeError("--max-iter \(iterations) is out of range", hint: "use a value in [1, \(limit)]")
            }
            maxIter = iterations
        } else {
            throw SwiftCaffeError("the solver sets neither 'epochs' nor 'max_iter'", hint: "add 'epochs: N' to the solver section or pass --epochs N")
        }
        solver = Solver(spec: solverSpec, parameters: trainNet.parameters, maxIter: maxIter)
        solver.ranks = shard.count
        self.options = options
        let configured = solverSpec.snapshotPrefix ?? "runs/\(spec.name.lowercased())"
        let base = URL(fileURLWithPath: configured).lastPathComponent
        let folder = options.output ?? URL(fileURLWithPath: configured).deletingLastPathComponent().path
        prefix = URL(fileURLWithPath: folder).appendingPathComponent(base).path
        gradientsReady = groupGradientsByLayer()
    }

    /// The number of data-parallel ranks (1 when training alone).
    public var ranks: Int { group.size }

    /// Whether this process prints, logs and writes snapshots: rank 0, or the only one.
    public var isRoot: Bool { group.rank == 0 }

    /// Samples per iteration over all ranks: the global batch.
    public var imagesPerIteration: Int { batchSize * solverSpec.iterSize * ranks }

    public var epoch: Double { Double(iteration) * Double(imagesPerIteration) / Double(epochSize) }

    public var logPath: String { prefix + "_log.csv" }

    /// The run's `TrainingRecord`: what `swiftcaffe board` reads besides the log.
    public var recordPath: String { prefix + "_events.jsonl" }

    /// The displayed loss: the mean of the last `average_loss` iteration losses.
    var smoothedLoss: Float { recentLosses.isEmpty ? .nan : recentLosses.reduce(0, +) / Float(recentLosses.count) }

    /// Runs to `maxIter` (or until `shouldStop`), calling `report` as it goes. Snapshots every
    /// `snapshot` iterations, at the end and when stopped; writes the CSV log unless `logging`
    /// is false.
    @discardableResult
    public func run(logging: Bool = true, report: (TrainingEvent) -> Void = { _ in }) throws -> TrainingOutcome {
        if isRoot {
            if logging && log == nil { try claimOutput() }
            AtomicFile.removeStaleTemporaries(in: URL(fileURLWithPath: prefix).deletingLastPathComponent().path)
            if logging && log == nil { log = try TrainingLog(path: logPath) }
            if logging && record == nil { record = try TrainingRecord(path: recordPath) }
            record?.appended = { [weak self] in self?.recorded() }
            try recordStart()
        }
        do {
            let outcome = try train(iterations: nil, report: report)
            try record?.append("end", ["iteration": iteration, "outcome": outcome == .finished ? "finished" : "interrupted",
                                       "seconds": trainingSeconds + testingSeconds])
            return outcome
        } catch {
            try? record?.append("end", ["iteration": iteration, "outcome": "failed", "message": "\(error)"])
            throw error
        }
    }

    /// The record's first line for this process: the run, the machine and the net's graph.
    private func recordStart() throws {
        guard let record else { return }
        if observations == nil { observations = TrainingObservations(net: trainNet) }
        let source = trainNet.dataSources[0]
        try record.append("start", [
            "name": spec.name, "iteration": iteration, "max_iter": maxIter, "batch": imagesPerIteration, "epoch_size": epochSize,
            "sample_noun": source.sampleNoun, "solver": solverSpec.type.rawValue, "base_lr": solverSpec.baseLR, "display": solverSpec.display,
            "test_interval": solverSpec.testInterval, "threads": Parallel.threads, "ranks": ranks, "seed": seed,
            "pid": Int(getpid()), "host": ProcessInfo.processInfo.hostName, "time": Date().timeIntervalSince1970,
            "log": URL(fileURLWithPath: logPath).lastPathComponent, "graph_svg": NetDiagram.svg(trainNet.plan),
        ])
    }

    /// Runs `count` iterations from where the run is (past `maxIter` if asked, as Caffe's
    /// `Solver::Step` does), displaying, testing and snapshotting at the solver's intervals
    /// and at `maxIter`. `run` is this to `maxIter` with the log; the Python API's
    /// `solver.step(n)` is this alone.
    @discardableResult
    public func step(_ count: Int, report: (TrainingEvent) -> Void = { _ in }) throws -> TrainingOutcome {
        try train(iterations: max(count, 0), report: report)
    }

    /// `iterations` more, or on to `maxIter` when nil: counted only once every rank holds
    /// rank 0's state, since a resumed run's other ranks learn the iteration from it.
    private func train(iterations: Int?, report: (TrainingEvent) -> Void) throws -> TrainingOutcome {
        if !started {
            try startFromRootState()
            trainNet.zeroParameterDiffs()  // then the solver zeroes them as it applies them
            started = true
        }
        let end = iterations.map { iteration + $0 } ?? maxIter
        let display = solverSpec.display, interval = solverSpec.testInterval
        var window = SpeedWindow(waiting: group.waitingSeconds)
        var lastTick = Date.distantPast, lastStatus = Date()
        func isDisplayed(_ iteration: Int) -> Bool { (display > 0 && iteration % display == 0) || iteration == maxIter }
        while iteration < end {
            let rate = try iterate(observing: observations != nil && isDisplayed(iteration + 1))
            window.add(images: Double(imagesPerIteration))
            let displayed = isDisplayed(iteration)
            if displayed || Date().timeIntervalSince(lastTick) > 0.1 {
                let progress = TrainingProgress(iteration: iteration, maxIter: maxIter, epoch: epoch, loss: smoothedLoss, learningRate: rate,
                                                imagesPerSecond: window.imagesPerSecond,
                                                communicationSeconds: window.waitingPerIteration(now: group.waitingSeconds),
                                                isDisplayed: displayed)
                if displayed || Date().timeIntervalSince(lastStatus) >= 1 {
                    try record?.append("status", ["iteration": iteration, "epoch": epoch, "seconds": trainingSeconds + testingSeconds,
                                                  "loss": smoothedLoss, "lr": rate, "images_per_second": progress.imagesPerSecond])
                    lastStatus = Date()
                }
                report(.progress(progress))
                lastTick = Date()
            }
            if displayed {
                try log?.append(iteration: iteration, epoch: epoch, seconds: trainingSeconds + testingSeconds, learningRate: rate, trainLoss: smoothedLoss)
                if let observations {
                    try record?.append("layers", ["iteration": iteration, "layers": observations.layerTimes(trainNet),
                                                  "parameters": observations.parameterNorms()])
                }
                window = SpeedWindow(waiting: group.waitingSeconds)
            }
            if testNet != nil && ((interval > 0 && iteration % interval == 0) || iteration == maxIter) {
                try testAndLog(report: report)
                window = SpeedWindow(waiting: group.waitingSeconds)  // the test's time is not training's
            }
            let stopping = try agreeOnStopping(shouldStop())
            if iteration == maxIter || stopping || (solverSpec.snapshot > 0 && iteration % solverSpec.snapshot == 0) {
                try snapshotAllRanks(report: report)
            }
            if stopping && iteration < end { return .interrupted }
        }
        return .finished
    }

    /// Applies the gradients the train net's parameters hold now, at the current iteration's
    /// learning rate, and counts the iteration (Caffe's `ApplyUpdate`, for a caller that ran
    /// forward and backward itself). Returns the rate.
    @discardableResult
    public func applyUpdate() -> Float {
        let rate = solver.update(iteration: iteration)
        iteration += 1
        return rate
    }

    /// One iteration: `iter_size` forward and backward passes, the gradients summed over the
    /// ranks, the update. Returns the learning rate it used.
    /// `observing`: an iteration whose numbers go to the record (`TrainingObservations`).
    private func iterate(observing: Bool = false) throws -> Float {
        let started = Date()
        var loss: Float = 0
        for pass in 0..<solverSpec.iterSize {
            do { try trainNet.forward() } catch let error as SwiftCaffeError { throw error.during("at iteration \(iteration + 1)") }
            loss += trainNet.loss / Float(solverSpec.iterSize)
            if pass == solverSpec.iterSize - 1 { try backwardSummingGradients() } else { trainNet.backward() }
        }
        // The mean over the ranks, so that every rank stops together on a diverged one.
        loss = try meanOverRanks(loss)
        guard loss.isFinite else { throw divergence(loss: loss) }
        let observer = observing ? observations?.updateObserver(trainNet.parameters, gradientScale: 1 / Double(solverSpec.iterSize * ranks)) : nil
        let rate = solver.update(iteration: iteration, observer: observer)
        iteration += 1
        recentLosses.append(loss)
        if recentLosses.count > solverSpec.averageLoss { recentLosses.removeFirst() }
        trainingSeconds += Date().timeIntervalSince(started)
        return rate
    }

    /// Tests (with every rank's self-kept statistics averaged first), reports and logs it.
    private func testAndLog(report: (TrainingEvent) -> Void) throws {
        let started = Date()
        try averageSelfKeptParameters()
        let result = try test()
        testingSeconds += Date().timeIntervalSince(started)
        try log?.append(iteration: iteration, epoch: epoch, seconds: trainingSeconds + testingSeconds, testLoss: result.loss, testAccuracy: result.accuracy)
        if let record, let testNet {
            var fields = TrainingObservations.testFields(result, train: trainNet, test: testNet)
            fields["epoch"] = epoch
            fields["seconds"] = trainingSeconds + testingSeconds
            try record.append("test", fields)
        }
        report(.test(result))
    }

    /// Makes every rank hold the same model, checks that they do, and has rank 0 write it.
    private func snapshotAllRanks(report: (TrainingEvent) -> Void) throws {
        try averageSelfKeptParameters()
        let checksum = try checkReplicasAgree()
        if ranks > 1 { report(.replicasAgree(checksum: checksum)) }
        guard isRoot else { return }
        let (weights, state) = try snapshot()
        try record?.append("snapshot", ["iteration": iteration, "weights": URL(fileURLWithPath: weights).lastPathComponent,
                                        "state": URL(fileURLWithPath: state).lastPathComponent])
        report(.snapshot(weights: weights, state: state))
    }

    /// Scores the test net (whole test set unless the solver's `test_iter` says otherwise).
    public func test() throws -> TestResult {
        guard let testNet else { throw SwiftCaffeError("the net has no test-phase layers to test with") }
        do {
            return try Evaluation.run(testNet, iterations: solverSpec.testIter, iteration: iteration, group: group)
        } catch let error as SwiftCaffeError {
            throw error.during("testing at iteration \(iteration)")
        }
    }

    /// The error for a non-finite loss, naming the first layer that went wrong: one whose
    /// parameters are no longer finite (the updates diverged), the first whose output is not
    /// finite although its inputs are, or a loss top whose `loss_weight` carries a finite loss
    /// past Float's range. Only after updates have run is the learning rate a suspect.
    func divergence(loss: Float) -> SwiftCaffeError {
        let updated = iteration > 0
        let states = Self.runFiles(prefix: prefix).filter { $0.hasSuffix(".solverstate") }
        let latest = states.max { Self.snapshotIteration($0) < Self.snapshotIteration($1) }
        let rateHint = "lower base_lr (now \(solver.rate(at: iteration))) or set clip_gradients; "
            + (latest.map { "the last snapshot, \($0), is from before this: --resume it with the change" } ?? "no snapshot was written before this")
        for (index, layer) in trainNet.layers.enumerated() {
            for owner in trainNet.plan.layersDone(byLayerAt: index) {  // a folded Scale's parameters too
                guard let parameter = owner.params.firstIndex(where: { firstNonFinite($0.data, $0.count) != nil }) else { continue }
                return owner.error("its parameter \(parameter) became non-finite by iteration \(iteration) (loss \(loss)): the updates diverged", hint: rateHint)
            }
            if let top = trainNet.tops[index].first(where: { firstNonFinite($0.data, $0.count) != nil }) {
                let value = (0..<top.count).lazy.map { top.data[$0] }.first { !$0.isFinite } ?? .nan
                return layer.error("produced \(value) in '\(top.name)' at iteration \(iteration + 1) from finite inputs and parameters",
                                   hint: updated ? "the values grew until they overflowed; \(rateHint)"
                                       : "no update has run yet, so the net computes it as written: check this layer's inputs and keys (a Log of 0, a Power with a negative exponent, ...)")
            }
        }
        for (blob, weight) in trainNet.lossTops {
            let sum = (0..<blob.count).reduce(Float(0)) { $0 + blob.data[$1] }
            guard !(weight * sum).isFinite, let layer = trainNet.plan.producer(of: blob) else { continue }
            return layer.error("its loss '\(blob.name)' is \(sum), which times loss_weight \(weight) is \(weight * sum)",
                               hint: "use a loss_weight that keeps the weighted loss within Float's range (±3.4e38)")
        }
        return SwiftCaffeError("the loss became \(loss) at iteration \(iteration + 1)", hint: updated ? rateHint : nil)
    }
}

/// The images trained since the last displayed line, for its images/s, and the time spent
/// waiting for other ranks since then.
private struct SpeedWindow {
    let start = Date()
    var images = 0.0, iterations = 0
    let waiting: Double

    init(waiting: Double) { self.waiting = waiting }

    mutating func add(images: Double) {
        self.images += images
        iterations += 1
    }

    var imagesPerSecond: Double { images / max(Date().timeIntervalSince(start), 1e-9) }

    func waitingPerIteration(now: Double) -> Double { (now - waiting) / Double(max(iterations, 1)) }
}


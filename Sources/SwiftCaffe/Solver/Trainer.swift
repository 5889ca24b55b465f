import Foundation

/// What a training run reports as it goes; the command line turns these into lines.
public enum TrainingEvent {
    /// Mean loss over the iterations since the last report.
    case progress(iteration: Int, maxIter: Int, epoch: Double, loss: Float, learningRate: Float, imagesPerSecond: Double)
    case test(TestResult)
}

/// The averaged scalar outputs of a pass over the test set.
public struct TestResult {
    public var iteration: Int
    /// Each scalar output (loss, accuracy, ...) averaged over the batches.
    public var outputs: [(name: String, value: Float)]
    public var batches: Int
    public var images: Int

    public var accuracy: Float? { outputs.first { $0.name.lowercased().contains("accuracy") }?.value }
    public var loss: Float? { outputs.first { $0.name.lowercased().contains("loss") }?.value }
}

/// Settings of a run that the command line may override over the solver spec.
public struct TrainingOptions {
    public var epochs: Double?
    public var maxIter: Int?
    public var baseLR: Float?
    public var seed: UInt64?

    public init(epochs: Double? = nil, maxIter: Int? = nil, baseLR: Float? = nil, seed: UInt64? = nil) {
        self.epochs = epochs
        self.maxIter = maxIter
        self.baseLR = baseLR
        self.seed = seed
    }
}

/// The training loop: builds the train net and a test net that shares its weights, runs
/// mini-batch SGD for the configured iterations or epochs, reports progress and tests.
public final class Trainer {
    public let spec: NetSpec
    public let solverSpec: SolverSpec
    public let trainNet: Net
    public let testNet: Net?
    public let solver: SGDSolver
    public let maxIter: Int
    public let seed: UInt64
    public private(set) var iteration = 0
    /// Wall-clock seconds spent training and testing so far (kept apart for throughput figures).
    public private(set) var trainingSeconds = 0.0
    public private(set) var testingSeconds = 0.0
    private let batchSize: Int
    private let epochSize: Int

    /// The seed used when neither the solver's `random_seed` nor `--seed` gives one, so that
    /// runs are reproducible by default.
    public static let defaultSeed: UInt64 = 1

    public init(spec: NetSpec, options: TrainingOptions = TrainingOptions()) throws {
        self.spec = spec
        var solverSpec = spec.solver ?? SolverSpec()
        if let rate = options.baseLR { solverSpec.baseLR = rate }
        self.solverSpec = solverSpec
        seed = options.seed ?? solverSpec.randomSeed ?? Self.defaultSeed
        trainNet = try Net(spec: spec, phase: .train, seed: seed)
        let hasTestLayers = spec.layers.contains { $0.phase == .test }
        testNet = hasTestLayers ? try Net(spec: spec, phase: .test, seed: seed, sharingParametersWith: trainNet) : nil
        solver = SGDSolver(spec: solverSpec, parameters: trainNet.parameters)

        guard let source = trainNet.dataSources.first else {
            throw SwiftCaffeError("the train net has no data layer", at: spec.layers.first?.location,
                                  hint: "add a data layer such as IDXData with 'phase: train'")
        }
        batchSize = source.batchSize
        epochSize = source.sampleCount
        let epochs = options.epochs ?? (options.maxIter == nil ? solverSpec.epochs : nil)
        if let epochs {
            maxIter = max(1, Int((epochs * Double(epochSize) / Double(batchSize)).rounded(.up)))
        } else if let iterations = options.maxIter ?? solverSpec.maxIter {
            maxIter = iterations
        } else {
            throw SwiftCaffeError("the solver sets neither 'epochs' nor 'max_iter'", hint: "add 'epochs: N' to the solver section or pass --epochs N")
        }
    }

    public var epoch: Double { Double(iteration * batchSize) / Double(epochSize) }

    public func learningRate(at iteration: Int) -> Float { solverSpec.learningRate(at: iteration, maxIter: maxIter) }

    /// Runs to `maxIter`, calling `report` with progress and test results.
    public func run(report: (TrainingEvent) -> Void) throws {
        var windowLoss: Double = 0
        var windowCount = 0
        var windowStart = Date()
        let display = solverSpec.display
        var trainingStart = Date()
        while iteration < maxIter {
            trainNet.zeroParameterDiffs()
            let loss = trainNet.forward()
            guard loss.isFinite else {
                throw SwiftCaffeError("the loss became \(loss) at iteration \(iteration)",
                                      hint: "training diverged; lower base_lr (now \(learningRate(at: iteration)))")
            }
            trainNet.backward()
            let rate = learningRate(at: iteration)
            solver.update(rate: rate)
            iteration += 1
            windowLoss += Double(loss)
            windowCount += 1
            if (display > 0 && iteration % display == 0) || iteration == maxIter {
                let elapsed = Date().timeIntervalSince(windowStart)
                report(.progress(iteration: iteration, maxIter: maxIter, epoch: epoch, loss: Float(windowLoss / Double(windowCount)),
                                 learningRate: rate, imagesPerSecond: Double(windowCount * batchSize) / max(elapsed, 1e-9)))
                windowLoss = 0
                windowCount = 0
                windowStart = Date()
            }
            let interval = solverSpec.testInterval
            if testNet != nil && ((interval > 0 && iteration % interval == 0) || iteration == maxIter) {
                let testStart = Date()
                trainingSeconds += testStart.timeIntervalSince(trainingStart)
                report(.test(try test()))
                testingSeconds += Date().timeIntervalSince(testStart)
                windowStart = Date()
                trainingStart = windowStart
            }
        }
        if testNet == nil || (iteration % max(solverSpec.testInterval, 1) != 0 && iteration != maxIter) {
            trainingSeconds += Date().timeIntervalSince(trainingStart)
        }
    }

    /// Scores the test net (whole test set unless the solver's `test_iter` says otherwise).
    public func test() throws -> TestResult {
        guard let testNet else { throw SwiftCaffeError("the net has no test-phase layers to test with") }
        return Trainer.evaluate(testNet, iterations: solverSpec.testIter, iteration: iteration)
    }

    /// Runs `net` forward over its data set (or `iterations` batches) and averages its scalar outputs.
    public static func evaluate(_ net: Net, iterations: Int? = nil, iteration: Int = 0) -> TestResult {
        let source = net.dataSources.first
        source?.rewind()
        let batch = source?.batchSize ?? 1
        let batches = iterations ?? source.map { ($0.sampleCount + batch - 1) / batch } ?? 1
        var sums: [Double] = []
        var names: [String] = []
        for _ in 0..<batches {
            net.forward()
            let outputs = net.scalarOutputs
            if sums.isEmpty {
                names = outputs.map(\.name)
                sums = [Double](repeating: 0, count: outputs.count)
            }
            for (index, output) in outputs.enumerated() { sums[index] += Double(output.value) }
        }
        return TestResult(iteration: iteration, outputs: zip(names, sums).map { ($0, Float($1 / Double(batches))) },
                          batches: batches, images: batches * batch)
    }

    /// Where the final weights go: `<folder>/<prefix>_iter_<N>.safetensors`, the folder being
    /// `output` if given, else the solver's `snapshot_prefix` folder, else `runs/`.
    public func weightsPath(output: String?) -> String {
        let prefix = solverSpec.snapshotPrefix ?? "runs/\(spec.name.lowercased())"
        let base = URL(fileURLWithPath: prefix).lastPathComponent
        let folder = output ?? URL(fileURLWithPath: prefix).deletingLastPathComponent().path
        return URL(fileURLWithPath: folder).appendingPathComponent("\(base)_iter_\(iteration).safetensors").path
    }
}

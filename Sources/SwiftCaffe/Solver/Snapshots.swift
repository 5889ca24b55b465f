import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeLayers
import SwiftCaffeSpec

/// Snapshots and resuming.
///
/// A snapshot is two safetensors files written atomically: the weights
/// (`<prefix>_iter_<N>.safetensors`, parameters named `<layer>.<index>`) and the solver state
/// (`<prefix>_iter_<N>.solverstate`): the history buffers (`<param>.history<k>`), the recent
/// losses, every stateful layer's position, order and random state (`layer/<name>/<key>`), and
/// in its metadata the iteration, the seed, the solver type, the weights file's name, and the
/// rank count and global batch of data-parallel training. A run resumed from it continues
/// exactly: same losses, bit-identical weights (on the same thread and rank counts, since sums
/// split another way add in another order). The state in memory (`encodedState`) is also what
/// rank 0 broadcasts to the other ranks when a data-parallel run starts.
extension Trainer {
    static let stateFormat = "swiftcaffe-solverstate-1"

    /// Writes the weights and the solver state for the current iteration.
    @discardableResult
    public func snapshot() throws -> (weights: String, state: String) {
        let weights = prefix + "_iter_\(iteration).\(options.weightsExtension)"
        let state = prefix + "_iter_\(iteration).solverstate"
        try trainNet.saveWeights(to: weights, metadata: ["net": spec.name, "iteration": "\(iteration)", "format": "swiftcaffe"])
        try AtomicFile.write(try encodedState(weightsName: URL(fileURLWithPath: weights).lastPathComponent), to: state)
        return (weights, state)
    }

    /// The solver state as a safetensors file's bytes: everything but the weights.
    func encodedState(weightsName: String) throws -> [UInt8] {
        var metadata: [String: String] = [
            "format": Self.stateFormat, "net": spec.name, "iteration": "\(iteration)", "seed": "\(seed)",
            "solver": solverSpec.type.rawValue, "weights": weightsName, "weights_checksum": String(trainNet.weightsChecksum(), radix: 16),
            "training_seconds": "\(trainingSeconds)", "testing_seconds": "\(testingSeconds)",
            "ranks": "\(ranks)", "global_batch": "\(imagesPerIteration)",
        ]
        var arrays: [(String, [Int], [Float])] = [("recent_losses", [recentLosses.count], recentLosses)]
        arrays += solver.historyArrays().map { ($0.name, $0.shape, $0.values) }
        for case let layer as any StatefulLayer in trainNet.layers {
            let saved = layer.saveState()
            for (key, value) in saved.values { metadata["layer/\(layer.name)/\(key)"] = value }
            for (key, value) in saved.arrays.sorted(by: { $0.key < $1.key }) { arrays.append(("layer/\(layer.name)/\(key)", [value.count], value)) }
        }
        return try withBuffers(arrays) { try Safetensors.encode($0, metadata: metadata) }
    }

    /// Continues from a solver-state file: loads its weights, history, data positions and
    /// counters. The trainer must be built from the same net file.
    public func resume(from path: String) throws {
        let (tensors, metadata) = try Safetensors.read(path: path)
        try restoreState(tensors, metadata, from: path) { weightsName in
            guard !weightsName.isEmpty, !weightsName.contains("/") else {
                throw SwiftCaffeError("cannot resume from '\(path)': it does not name its weights file (a file beside it)",
                                      hint: "pass a .solverstate file written by 'swiftcaffe train'")
            }
            try trainNet.loadWeights(from: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(weightsName).path)
        }
        // The run goes on where its state is (runs/lenet-2/ say), unless told otherwise.
        let file = URL(fileURLWithPath: path)
        if options.output == nil, let cut = file.lastPathComponent.range(of: "_iter_", options: .backwards) {
            prefix = file.deletingLastPathComponent().appendingPathComponent(String(file.lastPathComponent[..<cut.lowerBound])).path
        }
        log = try TrainingLog(path: logPath, resumingAt: iteration)
        record = try TrainingRecord(path: recordPath, resumingAt: iteration)
        record?.appended = { [weak self] in self?.recorded() }
        outputClaimed = true
    }

    /// N of `<prefix>_iter_<N>.solverstate`.
    static func snapshotIteration(_ path: String) -> Int {
        guard let cut = path.range(of: "_iter_", options: .backwards) else { return 0 }
        return Int(path[cut.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    /// The log, record and snapshots of a run written with `prefix`.
    public static func runFiles(prefix: String) -> [String] {
        let folder = URL(fileURLWithPath: prefix).deletingLastPathComponent().path, base = URL(fileURLWithPath: prefix).lastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { name in
            name == base + "_log.csv" || name == base + "_events.jsonl" || (name.hasPrefix(base + "_iter_") && (name.hasSuffix(".safetensors") || name.hasSuffix(".solverstate")))
        }.sorted().map { folder + "/" + $0 }
    }

    /// Makes sure a new run writes over no other run. When files of an earlier run have the
    /// prefix (its log or snapshots), the earlier files go with `overwrite` (`--force`);
    /// otherwise this run takes the first free `<prefix>-2`, `-3`, ... and `movedFrom` keeps
    /// the prefix it was given, for the command line to say so. Numbering rather than refusing
    /// keeps a repeated command working (the quick start twice), and loses nothing.
    public func claimOutput() throws {
        guard !outputClaimed else { return }
        outputClaimed = true
        let earlier = Self.runFiles(prefix: prefix)
        guard !earlier.isEmpty else { return }
        if options.overwrite {
            for file in earlier { try FileManager.default.removeItem(atPath: file) }
            return
        }
        for number in 2...100_000 where Self.runFiles(prefix: "\(prefix)-\(number)").isEmpty {
            movedFrom = prefix
            prefix = "\(prefix)-\(number)"
            return
        }
        throw SwiftCaffeError("'\(prefix)' and 100,000 numbered prefixes after it hold earlier runs", hint: "write this run elsewhere with --output DIR")
    }

    /// Restores what `encodedState` saved (`path` names it in errors), after `loadWeights`
    /// has loaded the weights file the state names.
    func restoreState(_ tensors: [String: Safetensors.Tensor], _ metadata: [String: String], from path: String,
                      loadWeights: (String) throws -> Void) throws {
        func bad(_ why: String, hint: String = "pass a .solverstate file written by 'swiftcaffe train'") -> SwiftCaffeError {
            SwiftCaffeError("cannot resume from '\(path)': \(why)", hint: hint)
        }
        guard metadata["format"] == Self.stateFormat else { throw bad("it is not a SwiftCaffe solver state") }
        guard let saved = metadata["iteration"].flatMap({ Int(wholeText: $0, in: 0...SolverSpec.iterationLimit) }) else {
            throw bad("it has no iteration, or one out of range")
        }
        guard metadata["solver"] == solverSpec.type.rawValue else {
            throw bad("it was written by the \(metadata["solver"] ?? "?") solver, this net uses \(solverSpec.type.rawValue)",
                      hint: "resume with the solver the snapshot was trained with")
        }
        guard saved <= maxIter else { throw bad("it is at iteration \(saved), past this run's \(maxIter)", hint: "raise --max-iter or --epochs") }
        // Across a change of rank count a resumed run is the same run only with the same
        // global batch: iterations, epochs, the schedule and the data position all count in it.
        // (States from before data-parallel training have neither key: one rank.)
        let savedRanks = metadata["ranks"].flatMap { Int(wholeText: $0, in: 1...1_000_000) } ?? 1
        if savedRanks != ranks, let savedBatch = metadata["global_batch"].flatMap({ Int(wholeText: $0) }), savedBatch != imagesPerIteration {
            throw bad("it was trained on \(savedRanks) rank(s) with a global batch of \(savedBatch); this run has \(ranks) rank(s) × \(imagesPerIteration / ranks) = \(imagesPerIteration)",
                      hint: savedBatch % (ranks * solverSpec.iterSize) == 0
                          ? "set batch_size to \(savedBatch / (ranks * solverSpec.iterSize)) so that the global batch stays \(savedBatch)"
                          : "resume on a rank count that divides the global batch \(savedBatch), with batch_size × iter_size × ranks = \(savedBatch)")
        }
        try loadWeights(metadata["weights"] ?? "")
        // The state names its weights by file name only; a later run can have written other
        // weights under that name (and died before its state), so the weights must be the very
        // ones this state was saved with. States written before the checksum have none.
        if let saved = metadata["weights_checksum"], saved != String(trainNet.weightsChecksum(), radix: 16) {
            throw bad("the weights beside it, '\(metadata["weights"] ?? "")', are not the ones it was saved with (another run wrote them since?)",
                      hint: "resume from a state whose weights file is its own: the newest pair that a finished snapshot wrote")
        }
        if let name = solver.restoreHistory(from: tensors) {
            throw bad("its solver history '\(name)' is missing or has another shape", hint: "resume with the net file the snapshot was trained with")
        }
        for case let layer as any StatefulLayer in trainNet.layers {
            var state = LayerState()
            let prefix = "layer/\(layer.name)/"
            for (key, value) in metadata where key.hasPrefix(prefix) { state.values[String(key.dropFirst(prefix.count))] = value }
            for (key, tensor) in tensors where key.hasPrefix(prefix) { state.arrays[String(key.dropFirst(prefix.count))] = tensor.values }
            guard !state.values.isEmpty else { throw bad("it has no saved state for layer '\(layer.name)'") }
            try layer.restoreState(state)
        }
        recentLosses = tensors["recent_losses"]?.values ?? []
        iteration = saved
        func seconds(_ key: String) -> Double { metadata[key].flatMap(Double.init).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil } ?? 0 }
        trainingSeconds = seconds("training_seconds")
        testingSeconds = seconds("testing_seconds")
    }
}

/// Calls `body` with buffer pointers to each array (they must outlive the encoding).
func withBuffers<R>(_ arrays: [(String, [Int], [Float])], _ body: ([(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)]) throws -> R) rethrows -> R {
    var pointers: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)] = []
    var storage: [UnsafeMutableBufferPointer<Float>] = []
    defer { storage.forEach { $0.deallocate() } }
    for (name, shape, values) in arrays {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(values.count, 1))
        _ = buffer.initialize(from: values)
        storage.append(buffer)
        pointers.append((name, shape, UnsafeBufferPointer(start: buffer.baseAddress, count: values.count)))
    }
    return try body(pointers)
}

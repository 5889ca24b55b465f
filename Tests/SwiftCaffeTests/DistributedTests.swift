import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Data-parallel training: how data layers split each global batch across ranks, and real
/// runs under `mpirun` (Open MPI, two ranks on this machine) against one process.
@Suite(.serialized) struct DistributedTests {
    /// A data layer of `yaml` in `folder`, built as rank `shard.rank` of `shard.count`.
    func dataLayer(_ yaml: String, in folder: String, shard: DataShard) throws -> (any Layer, [Blob]) {
        let spec = try LayerSpec(try YAMLParser.parse(yaml, file: "net.yaml"), index: 0, baseDirectory: folder)
        let layer = try LayerRegistry.make(spec, context: LayerContext(phase: .train, seed: 5, shard: shard))
        let tops = [Blob(), Blob()]
        try layer.setUp(bottom: [], top: tops)
        return (layer, tops)
    }

    /// Batch after batch, and across the reshuffles at the ends of passes, rank 0's batch
    /// followed by rank 1's is the batch one process serves with twice the batch size.
    @Test func ranksTogetherServeTheSingleProcessBatches() throws {
        let (folder, _) = try SnapshotTests().smallNet()  // 256 samples: passes end mid-batch below
        func layer(_ batch: Int, _ shard: DataShard) throws -> (any Layer, [Blob]) {
            try dataLayer("{name: d, type: IDXData, top: [x, y], images: images, labels: labels, batch_size: \(batch), shuffle: true}",
                          in: folder, shard: shard)
        }
        let (whole, wholeTops) = try layer(48, .whole)
        let (first, firstTops) = try layer(24, DataShard(rank: 0, count: 2))
        let (second, secondTops) = try layer(24, DataShard(rank: 1, count: 2))
        for batch in 0..<20 {
            try whole.forward(bottom: [], top: wholeTops)
            try first.forward(bottom: [], top: firstTops)
            try second.forward(bottom: [], top: secondTops)
            #expect(firstTops[0].dataArray + secondTops[0].dataArray == wholeTops[0].dataArray, "batch \(batch)")
            #expect(firstTops[1].dataArray + secondTops[1].dataArray == wholeTops[1].dataArray, "batch \(batch)")
        }
        // Between batches every rank is where the single process is, so snapshots agree.
        let saved = (whole as! any StatefulLayer).saveState()
        #expect((second as! any StatefulLayer).saveState().values == saved.values)
        #expect((first as! any StatefulLayer).saveState().arrays == saved.arrays)
    }

    /// TextData: rank r reads the r-th half of the streams one process would read.
    @Test func textStreamsAreSplitAcrossRanks() throws {
        let folder = try temporaryFolder()
        try Data("the quick brown fox jumps over the lazy dog, twice: the quick brown fox".utf8).write(to: URL(fileURLWithPath: folder + "/t.txt"))
        func layer(_ streams: Int, _ shard: DataShard) throws -> (any Layer, [Blob]) {
            try dataLayer("{name: t, type: TextData, source: t.txt, sequence_length: 3, batch_size: \(streams)}", in: folder, shard: shard)
        }
        let (whole, wholeTops) = try layer(4, .whole)
        let (first, firstTops) = try layer(2, DataShard(rank: 0, count: 2))
        let (second, secondTops) = try layer(2, DataShard(rank: 1, count: 2))
        for _ in 0..<9 {  // past the end of the streams (17 characters each) and round again
            for (layer, tops) in [(whole, wholeTops), (first, firstTops), (second, secondTops)] { try layer.forward(bottom: [], top: tops) }
            for top in 0..<2 {
                for step in 0..<3 {
                    let row = Array(wholeTops[top].dataArray[(step * 4)..<(step * 4 + 4)])
                    let halves = Array(firstTops[top].dataArray[(step * 2)..<(step * 2 + 2)]) + Array(secondTops[top].dataArray[(step * 2)..<(step * 2 + 2)])
                    #expect(halves == row)
                }
            }
        }
    }

    /// Dropout drops other elements on each rank, while the stream a snapshot saves stays
    /// the same on every rank (rank 0's state resumes them all).
    @Test func dropoutMasksDifferAcrossRanksButTheirSavedStreamDoesNot() throws {
        var masks: [[Float]] = [], states: [[String: String]] = []
        for rank in 0..<2 {
            let spec = try LayerSpec(try YAMLParser.parse("{name: drop, type: Dropout}", file: "net.yaml"), index: 0, baseDirectory: "")
            let layer = try LayerRegistry.make(spec, context: LayerContext(phase: .train, seed: 5, shard: DataShard(rank: rank, count: 2)))
            let input = Blob(shape: [64]), output = Blob()
            input.setData([Float](repeating: 1, count: 64))
            try layer.setUp(bottom: [input], top: [output])
            try layer.forward(bottom: [input], top: [output])
            masks.append(output.dataArray)
            states.append((layer as! any StatefulLayer).saveState().values)
        }
        #expect(masks[0] != masks[1])
        #expect(masks.allSatisfy { $0.contains(0) && $0.contains(2) })
        #expect(states[0] == states[1])
    }

    // MARK: mpirun

    /// A smooth net (no max pooling or ReLU, whose kinks turn a rounding difference into a
    /// different gradient), so that two ways of summing the same gradients stay as close as
    /// float rounding makes them.
    func smoothNet(batch: Int, iterations: Int, snapshot: Int = 20, afterHidden: String = "") throws -> String {
        let (folder, _) = try SnapshotTests().smallNet()
        let yaml = """
        name: smooth
        layers:
          - {name: data, type: IDXData, top: [data, label], images: images, labels: labels, batch_size: \(batch), scale: 0.00390625, shuffle: true, phase: train}
          - {name: data, type: IDXData, top: [data, label], images: images, labels: labels, batch_size: 32, scale: 0.00390625, phase: test}
          - {name: hidden, type: InnerProduct, bottom: data, top: hidden, num_output: 16, weight_filler: xavier}
          - {name: tanh, type: TanH, bottom: hidden, top: hidden}
        \(afterHidden)
          - {name: scores, type: InnerProduct, bottom: hidden, top: scores, num_output: 4, weight_filler: xavier}
          - {name: accuracy, type: Accuracy, bottom: [scores, label], top: accuracy, phase: test}
          - {name: loss, type: SoftmaxWithLoss, bottom: [scores, label], top: loss}
        solver: {type: SGD, base_lr: 0.1, momentum: 0.9, weight_decay: 0.001, max_iter: \(iterations), snapshot: \(snapshot), test_interval: 25}
        """
        try yaml.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        return folder + "/net.yaml"
    }

    /// Runs `swiftcaffe ARGS` on `ranks` ranks under mpirun (or alone when nil); returns the
    /// exit status and everything printed.
    func launch(ranks: Int?, _ arguments: [String], timeout: TimeInterval = 300) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "\(ranks ?? 1)"]
        process.arguments = (ranks == nil ? [] : mpirun) + [FuzzTests.binary] + arguments + ["--threads", "1"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        // The child inherits this thread's signal mask, and the test runner's threads block
        // most signals: mpirun would never see the Ctrl-C and SIGTERM the tests send it.
        var none = sigset_t(), previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        // mpirun passes SIGTERM on to the ranks: a hung job ends, and the test fails on its status.
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { kill(pid, SIGTERM) }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func weights(_ path: String) throws -> [String: [Float]] {
        try Safetensors.read(path: path).tensors.mapValues(\.values)
    }

    /// The largest difference between two weight files, relative to each tensor's largest value.
    func largestRelativeDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> Double {
        var largest = 0.0
        for (name, values) in a {
            guard let other = b[name], other.count == values.count else { return .infinity }
            let scale = Double(values.map { abs($0) }.max() ?? 1)
            for (x, y) in zip(values, other) { largest = max(largest, Double(abs(x - y)) / scale) }
        }
        return largest
    }

    /// Two weight files hold the same model but for float rounding: within 1e-5 of each
    /// tensor's largest value (and, summed in another order, rarely equal to the bit).
    func expectSameModelToFloatRounding(_ parallel: String, _ single: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let a = try weights(parallel), b = try weights(single)
        let difference = largestRelativeDifference(b, a)
        #expect(difference < 1e-5, "largest relative difference \(difference)", sourceLocation: sourceLocation)
        #expect(difference > 0 || a == b, sourceLocation: sourceLocation)
    }

    /// The acceptance test: 50 iterations on 2 ranks × batch 32 give the weights of 1
    /// process × batch 64 to within float rounding (measured: 7.6e-7 relative; allowed:
    /// 1e-5), and the ranks end bit-identical: each reports the checksum of its weights, which
    /// must equal the checksum of the file rank 0 wrote.
    @Test func twoRanksTrainLikeOneProcessWithTheGlobalBatch() throws {
        let two = try smoothNet(batch: 32, iterations: 50), one = try smoothNet(batch: 64, iterations: 50)
        let (status, output) = try launch(ranks: 2, ["train", two, "--output", folder(of: two) + "/run", "--verbose"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("50 iterations of 64 images (2 ranks × 32)"), "\(output)")
        let (alone, aloneOutput) = try launch(ranks: nil, ["train", one, "--output", folder(of: one) + "/run"])
        #expect(alone == 0, "\(aloneOutput)")
        try expectSameModelToFloatRounding(folder(of: two) + "/run/smooth_iter_50.safetensors", folder(of: one) + "/run/smooth_iter_50.safetensors")

        // Every snapshot's checksum (at 20, 40 and 50) matches the file rank 0 wrote then.
        let net = try Net(spec: NetSpec.load(path: two), phase: .train)
        for iteration in [20, 40, 50] {
            try net.loadWeights(from: folder(of: two) + "/run/smooth_iter_\(iteration).safetensors")
            let line = String(format: "weights identical on every rank (checksum %016llx)", net.weightsChecksum())
            #expect(output.contains(line), "iteration \(iteration): no '\(line)' in \(output)")
        }
        // Tests score the whole test set over both ranks, as one process does.
        #expect(output.contains("(256 images)"), "\(output)")
        #expect(aloneOutput.contains("(256 images)"), "\(aloneOutput)")
    }

    /// A snapshot from one process × 64 resumes on 2 ranks × 32 (the same global batch) and
    /// continues as the single process would; with another global batch it is refused.
    @Test func resumingOnAnotherRankCount() throws {
        let one = try smoothNet(batch: 64, iterations: 40), two = try smoothNet(batch: 32, iterations: 40)
        var (status, output) = try launch(ranks: nil, ["train", one, "--output", folder(of: one) + "/run"])
        #expect(status == 0, "\(output)")
        let state = folder(of: one) + "/run/smooth_iter_20.solverstate"
        (status, output) = try launch(ranks: 2, ["train", two, "--output", folder(of: two) + "/run", "--resume", state])
        #expect(status == 0, "\(output)")
        #expect(output.contains("resuming at iteration 20"), "\(output)")
        let difference = largestRelativeDifference(try weights(folder(of: one) + "/run/smooth_iter_40.safetensors"),
                                                   try weights(folder(of: two) + "/run/smooth_iter_40.safetensors"))
        #expect(difference < 1e-5, "largest relative difference \(difference)")

        (status, output) = try launch(ranks: 2, ["train", one, "--output", folder(of: one) + "/other", "--resume", state])
        #expect(status != 0)
        #expect(output.contains("global batch of 64; this run has 2 rank(s) × 64 = 128") && output.contains("set batch_size to 32"), "\(output)")
    }

    /// A rank that dies mid-run ends the job with an error instead of leaving the other
    /// waiting forever.
    @Test func aRankThatDiesEndsTheJob() throws {
        let net = try smoothNet(batch: 32, iterations: 1_000_000, snapshot: 0)
        let started = Date()
        let killer = Process()
        killer.executableURL = URL(fileURLWithPath: "/bin/sh")
        // Once training runs, kill one rank (the newest swiftcaffe of this run) outright.
        killer.arguments = ["-c", "sleep 4; pkill -KILL -n -f -- '--output \(folder(of: net))/run'"]
        try killer.run()
        let (status, output) = try launch(ranks: 2, ["train", net, "--output", folder(of: net) + "/run"], timeout: 120)
        killer.waitUntilExit()
        #expect(status != 0, "\(output)")
        #expect(Date().timeIntervalSince(started) < 60, "the job took \(Date().timeIntervalSince(started)) s to end")
        #expect(output.contains("exited on signal 9"), "\(output)")
    }

    /// Ctrl-C on mpirun reaches every rank; they stop after the same iteration, rank 0 writes
    /// one snapshot, and the run resumes from it on two ranks.
    @Test func ctrlCOnMpirunSnapshotsOnceAndResumes() throws {
        let net = try smoothNet(batch: 32, iterations: 1_000_000, snapshot: 0)
        let output = folder(of: net) + "/run"
        let interrupter = Process()
        interrupter.executableURL = URL(fileURLWithPath: "/bin/sh")
        // Once the log exists (training is under way), Ctrl-C mpirun itself.
        interrupter.arguments = ["-c", "for i in $(seq 300); do [ -e '\(output)/smooth_log.csv' ] && break; sleep 0.1; done; sleep 1; pkill -INT -f -- 'mpirun.*\(output)'"]
        try interrupter.run()
        let (_, text) = try launch(ranks: 2, ["train", net, "--output", output], timeout: 120)
        interrupter.waitUntilExit()
        let states = try FileManager.default.contentsOfDirectory(atPath: output).filter { $0.hasSuffix(".solverstate") }
        #expect(states.count == 1, "\(states) \(text)")
        #expect(text.contains("interrupted; continue with: mpirun -np 2 swiftcaffe train"), "\(text)")
        #expect(text.components(separatedBy: "stopping after this iteration").count == 2, "only rank 0 announces it: \(text)")
        guard let state = states.first else { return }
        guard let saved = Int(state.dropFirst("smooth_iter_".count).dropLast(".solverstate".count)) else { return }
        let (status, resumed) = try launch(ranks: 2, ["train", net, "--output", output, "--resume", output + "/" + state, "--max-iter", "\(saved + 5)"])
        #expect(status == 0 && resumed.contains("resuming at iteration \(saved)"), "\(resumed)")
        #expect(FileManager.default.fileExists(atPath: output + "/smooth_iter_\(saved + 5).safetensors"))
    }

    // MARK: replicas (train --replicas: ranks as threads of one process)

    /// `--replicas 2` splits the file's batch of 64 into two slices of 32 and trains like one
    /// process with the whole batch, to within float rounding, its replicas ending identical.
    @Test func twoReplicasTrainLikeOneProcess() throws {
        let net = try smoothNet(batch: 64, iterations: 50)
        let (status, output) = try launch(ranks: nil, ["train", net, "--output", folder(of: net) + "/replicas", "--replicas", "2"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("50 iterations of 64 images (2 replicas × 32)"), "\(output)")
        #expect(output.contains("2 replicas: waiting for the others") && output.contains("weights identical on every replica (checksum"), "\(output)")
        let (alone, aloneOutput) = try launch(ranks: nil, ["train", net, "--output", folder(of: net) + "/alone"])
        #expect(alone == 0, "\(aloneOutput)")
        try expectSameModelToFloatRounding(folder(of: net) + "/replicas/smooth_iter_50.safetensors", folder(of: net) + "/alone/smooth_iter_50.safetensors")
        #expect(output.contains("(256 images)"), "tests score the whole test set: \(output)")
    }

    /// BatchNorm's running statistics come from each rank's own slice, so the ranks' copies
    /// drift apart; they are averaged before every test and snapshot. Without that, a net with
    /// BatchNorm stopped at its first snapshot ("the weights of rank(s) 1 differ"). Two
    /// replicas and two mpirun ranks add the same numbers in the same order, so their weights
    /// agree bit for bit.
    @Test func batchNormStatisticsAreAveragedAcrossReplicasAndRanks() throws {
        let normalization = "  - {name: bn, type: BatchNorm, bottom: hidden, top: hidden}"
        let whole = try smoothNet(batch: 64, iterations: 30, afterHidden: normalization)
        let sliced = try smoothNet(batch: 32, iterations: 30, afterHidden: normalization)
        let (status, output) = try launch(ranks: nil, ["train", whole, "--output", folder(of: whole) + "/run", "--replicas", "2"])
        #expect(status == 0, "\(output)")
        let (ranksStatus, ranksOutput) = try launch(ranks: 2, ["train", sliced, "--output", folder(of: sliced) + "/run"])
        #expect(ranksStatus == 0, "\(ranksOutput)")
        let replicated = try weights(folder(of: whole) + "/run/smooth_iter_30.safetensors")
        let ranked = try weights(folder(of: sliced) + "/run/smooth_iter_30.safetensors")
        #expect(replicated == ranked)
        let means = try #require(replicated.first { $0.key.hasPrefix("bn") }?.value)
        #expect(means.contains { $0 != 0 }, "the statistics were gathered: \(replicated.keys)")
    }

    /// A replica that fails ends the run with its own error; the others, waiting for it in a
    /// collective, stop instead of waiting forever.
    @Test func aFailingReplicaStopsTheOthers() throws {
        let started = Date()
        let other = #expect(throws: SwiftCaffeError.self) {
            try ReplicaGroup.run(count: 3, threadsPerReplica: 1) { sync in
                if sync.rank == 1 { throw SwiftCaffeError("replica 1 broke") }
                for _ in 0..<1000 { _ = try sync.sum(1) }
            }
        }
        #expect(other?.message == "replica 1 broke")
        let first = #expect(throws: SwiftCaffeError.self) {
            try ReplicaGroup.run(count: 2, threadsPerReplica: 1) { sync in
                if sync.rank == 0 { throw SwiftCaffeError("replica 0 broke") }
                _ = try sync.gather(7)
            }
        }
        #expect(first?.message == "replica 0 broke")
        #expect(Date().timeIntervalSince(started) < 30)
    }

    /// The collectives between replicas: sums, gathers, broadcasts and gradient sums see
    /// every replica's part. (Checked after the run: a replica's own thread is not the test's.)
    @Test func replicaCollectives() throws {
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var byRank: [Int: (sum: Double, gathered: [UInt64], broadcast: [UInt8], gradient: [Float])] = [:]
        }
        let results = Results()
        try ReplicaGroup.run(count: 3, threadsPerReplica: 1) { sync in
            let sum = try sync.sum(Double(sync.rank + 1))
            let gathered = try sync.gather(UInt64(10 * sync.rank))
            var bytes: [UInt8] = sync.rank == 0 ? [1, 2, 3] : [9]
            try sync.broadcast(&bytes)
            let gradient = Blob(shape: [5])
            gradient.setDiff([Float](repeating: Float(sync.rank + 1), count: 5))
            try sync.startSumming([gradient])
            try sync.finishSumming()
            results.lock.lock()
            results.byRank[sync.rank] = (sum, gathered, bytes, gradient.diffArray)
            results.lock.unlock()
        }
        #expect(results.byRank.count == 3)
        for (rank, result) in results.byRank {
            #expect(result.sum == 6, "rank \(rank)")
            #expect(result.gathered == [0, 10, 20], "rank \(rank)")
            #expect(result.broadcast == [1, 2, 3], "rank \(rank)")
            #expect(result.gradient == [Float](repeating: 6, count: 5), "rank \(rank)")
        }
    }

    /// A batch the replicas cannot share evenly is an error at its line.
    @Test func aBatchThatDoesNotSplitIsAnError() throws {
        let net = try smoothNet(batch: 63, iterations: 5)
        let (status, output) = try launch(ranks: nil, ["train", net, "--replicas", "2"])
        #expect(status != 0)
        #expect(output.contains("net.yaml:3:") && output.contains("batch_size 63 does not split into 2 equal slices"), "\(output)")
    }

    func folder(of path: String) -> String { URL(fileURLWithPath: path).deletingLastPathComponent().path }
}

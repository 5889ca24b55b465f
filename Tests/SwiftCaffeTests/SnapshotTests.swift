import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec
@testable import SwiftCaffeCLI

/// Snapshots, resuming, fine-tuning, the log and the divergence report, on a small
/// generated data set (8×8 images whose class is the brightest quadrant) so they run fast.
@Suite struct SnapshotTests {
    /// Writes 256 labelled 8×8 images and returns a net file over them.
    func smallNet(solver: String = "{type: SGD, base_lr: 0.05, momentum: 0.9, weight_decay: 0.001, epochs: 2, display: 1, average_loss: 3}",
                  batch: Int = 32, extra: String = "") throws -> (folder: String, spec: NetSpec) {
        let folder = try temporaryFolder()
        var rng = RandomGenerator(seed: 99)
        var images: [UInt8] = [], labels: [UInt8] = []
        for _ in 0..<256 {
            let label = Int(rng.next() % 4)
            for y in 0..<8 {
                for x in 0..<8 {
                    let quadrant = (y / 4) * 2 + x / 4
                    images.append(UInt8(quadrant == label ? 150 + Int(rng.next() % 100) : Int(rng.next() % 120)))
                }
            }
            labels.append(UInt8(label))
        }
        try writeIDX(folder + "/images", dimensions: [256, 8, 8], bytes: images)
        try writeIDX(folder + "/labels", dimensions: [256], bytes: labels)
        let yaml = """
        name: small
        layers:
          - {name: data, type: IDXData, top: [data, label], images: images, labels: labels, batch_size: \(batch), scale: 0.00390625, shuffle: true, phase: train}
          - {name: data, type: IDXData, top: [data, label], images: images, labels: labels, batch_size: 64, scale: 0.00390625, phase: test, label_names: [nw, ne, sw, se]}
          - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 4, kernel_size: 3, weight_filler: xavier}
          - {name: relu, type: ReLU, bottom: conv, top: conv}
          - {name: pool, type: Pooling, bottom: conv, top: pool, kernel_size: 2, stride: 2}
          - {name: ip, type: InnerProduct, bottom: pool, top: ip, num_output: 4, weight_filler: xavier}
          - {name: accuracy, type: Accuracy, bottom: [ip, label], top: accuracy, phase: test}
          - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
        \(extra)solver: \(solver)
        """
        try yaml.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        return (folder, try NetSpec.load(path: folder + "/net.yaml"))
    }

    func run(_ trainer: Trainer, stopAt: Int? = nil) throws -> (losses: [Float], outcome: TrainingOutcome) {
        var losses: [Float] = []
        if let stopAt { trainer.shouldStop = { trainer.iteration >= stopAt } }
        let outcome = try trainer.run { event in
            if case .progress(let progress) = event, progress.isDisplayed { losses.append(progress.loss) }
        }
        return (losses, outcome)
    }

    @Test func resumedRunIsBitIdentical() throws {
        let (folder, spec) = try smallNet()
        let whole = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/whole"))
        let (allLosses, finished) = try run(whole)
        #expect(finished == .finished)
        #expect(whole.iteration == 16)

        let first = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/split"))
        let (firstLosses, interrupted) = try run(first, stopAt: 8)
        #expect(interrupted == .interrupted)
        let state = folder + "/split/small_iter_8.solverstate"
        #expect(FileManager.default.fileExists(atPath: state))

        let second = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/split"))
        try second.resume(from: state)
        #expect(second.iteration == 8)
        let (secondLosses, _) = try run(second)
        #expect(firstLosses + secondLosses == allLosses)
        for (a, b) in zip(whole.trainNet.parameters, second.trainNet.parameters) {
            #expect(a.blob.dataArray == b.blob.dataArray, "\(a.name) differs after resuming")
        }
        // The log of the resumed run has one row per iteration and per test, as the whole run's.
        let wholeLog = try String(contentsOfFile: folder + "/whole/small_log.csv", encoding: .utf8)
        let splitLog = try String(contentsOfFile: folder + "/split/small_log.csv", encoding: .utf8)
        #expect(wholeLog.split(separator: "\n").count == splitLog.split(separator: "\n").count)
    }

    @Test func logHasAHeaderAndARowPerDisplayAndTest() throws {
        let (folder, spec) = try smallNet(solver: "{base_lr: 0.05, max_iter: 6, display: 2, test_interval: 3}")
        let trainer = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        _ = try run(trainer)
        let rows = try String(contentsOfFile: folder + "/small_log.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(rows.first == TrainingLog.header)
        // Displays at 2, 4, 6 and tests at 3, 6.
        #expect(rows.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[0] } == ["2", "3", "4", "6", "6"])
        let test = rows[2].split(separator: ",", omittingEmptySubsequences: false)
        #expect(test.count == 7 && !test[5].isEmpty && !test[6].isEmpty && test[4].isEmpty)
    }

    @Test func iterSizeMatchesTheLargerBatch() throws {
        let options = TrainingOptions(maxIter: 1)
        let (big, bigSpec) = try smallNet(solver: "{base_lr: 0.1, momentum: 0.9}", batch: 64)
        let (small, smallSpec) = try smallNet(solver: "{base_lr: 0.1, momentum: 0.9, iter_size: 2}", batch: 32)
        var bigOptions = options, smallOptions = options
        bigOptions.output = big
        smallOptions.output = small
        let a = try Trainer(spec: bigSpec, options: bigOptions), b = try Trainer(spec: smallSpec, options: smallOptions)
        try a.run(logging: false)
        try b.run(logging: false)
        for (x, y) in zip(a.trainNet.parameters, b.trainNet.parameters) {
            let worst = zip(x.blob.dataArray, y.blob.dataArray).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-6, "\(x.name): \(worst)")
        }
    }

    @Test func damagedStateFilesAreErrors() throws {
        let (folder, spec) = try smallNet(solver: "{base_lr: 0.05, max_iter: 2}")
        let trainer = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        _ = try run(trainer)
        let state = folder + "/small_iter_2.solverstate"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: state))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: folder + "/cut.solverstate"))
        for (path, mention) in [(folder + "/cut.solverstate", "truncated"), (folder + "/small_iter_2.safetensors", "not a SwiftCaffe solver state")] {
            let fresh = try Trainer(spec: spec, options: TrainingOptions(output: folder))
            #expect { try fresh.resume(from: path) } throws: { "\($0)".contains(mention) }
        }
    }

    @Test func fineTuningMatchesLayersByName() throws {
        let (folder, spec) = try smallNet(solver: "{base_lr: 0.05, max_iter: 1}")
        let trainer = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        _ = try run(trainer)
        // The same net with a renamed classifier: conv loads, the classifier is new.
        let yaml = try String(contentsOfFile: folder + "/net.yaml", encoding: .utf8).replacingOccurrences(of: "name: ip,", with: "name: head,")
        try yaml.write(toFile: folder + "/tuned.yaml", atomically: true, encoding: .utf8)
        let tuned = try Trainer(spec: try NetSpec.load(path: folder + "/tuned.yaml"), options: TrainingOptions(output: folder))
        let kept = try tuned.trainNet.loadWeights(from: folder + "/small_iter_1.safetensors", requireAll: false)
        #expect(kept == ["head.0", "head.1"])
        #expect(tuned.trainNet.parameters[0].blob.dataArray == trainer.trainNet.parameters[0].blob.dataArray)
        #expect { try tuned.trainNet.loadWeights(from: folder + "/small_iter_1.safetensors", requireAll: true) } throws: { "\($0)".contains("head.0") }
        let wider = try String(contentsOfFile: folder + "/net.yaml", encoding: .utf8).replacingOccurrences(of: "num_output: 4, kernel_size", with: "num_output: 6, kernel_size")
        try wider.write(toFile: folder + "/wider.yaml", atomically: true, encoding: .utf8)
        let mismatched = try Trainer(spec: try NetSpec.load(path: folder + "/wider.yaml"), options: TrainingOptions(output: folder))
        #expect { try mismatched.trainNet.loadWeights(from: folder + "/small_iter_1.safetensors", requireAll: false) } throws: {
            "\($0)".contains("layer 'conv' (Convolution)") && "\($0)".contains("[6, 1, 3, 3]")
        }
    }

    @Test func divergenceNamesTheLayer() throws {
        // Least squares with a far too large rate: the weights grow geometrically until the
        // loss overflows. Its layer is the first with a non-finite output from finite inputs.
        let (folder, _) = try smallNet()
        let yaml = """
        layers:
          - {name: data, type: IDXData, top: [data, label], images: images, labels: labels, batch_size: 32, scale: 0.00390625}
          - {name: fit, type: InnerProduct, bottom: data, top: fit, num_output: 1, weight_filler: gaussian}
          - {name: loss, type: EuclideanLoss, bottom: [fit, label], top: loss}
        solver: {base_lr: 1000, max_iter: 200}
        """
        try yaml.write(toFile: folder + "/diverge.yaml", atomically: true, encoding: .utf8)
        let trainer = try Trainer(spec: try NetSpec.load(path: folder + "/diverge.yaml"), options: TrainingOptions(output: folder))
        #expect { try trainer.run(logging: false) } throws: { error in
            let text = "\(error)"
            return text.contains("layer 'loss' (EuclideanLoss)") && text.contains("overflowed") && text.contains("lower base_lr")
        }
    }

    @Test func confusionMatrixCountsEveryImage() throws {
        let (folder, spec) = try smallNet(solver: "{base_lr: 0.05, max_iter: 30}")
        let trainer = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        _ = try run(trainer)
        let result = try trainer.test()
        let confusion = try #require(result.confusion)
        #expect(confusion.count == 4)
        #expect(confusion.flatMap { $0 }.reduce(0, +) == 256)
        let diagonal = (0..<4).reduce(0) { $0 + confusion[$1][$1] }
        #expect(abs(Float(diagonal) / 256 - (result.accuracy ?? -1)) < 1e-6)
        #expect(result.classNames == ["nw", "ne", "sw", "se"])
    }

    @Test func ctrlCSnapshotsAndStops() throws {
        let (folder, spec) = try smallNet(solver: "{base_lr: 0.05, max_iter: 1000, display: 1}")
        let trainer = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        Interrupts.install()
        defer {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            Interrupts.count = 0
        }
        trainer.shouldStop = { Interrupts.requested }
        let outcome = try trainer.run { event in
            if case .progress(let progress) = event, progress.isDisplayed, progress.iteration == 3 {
                // To the process, as Ctrl-C is; another thread may take it, so give it a moment.
                kill(getpid(), SIGINT)
                usleep(100_000)
            }
        }
        #expect(outcome == .interrupted)
        #expect(trainer.iteration == 3)
        #expect(FileManager.default.fileExists(atPath: folder + "/small_iter_3.solverstate"))
        #expect(FileManager.default.fileExists(atPath: folder + "/small_iter_3.safetensors"))
    }
}

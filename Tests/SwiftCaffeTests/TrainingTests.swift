import ArgumentParser
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

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// End-to-end training on the real Fashion-MNIST files (Debian's dataset-fashion-mnist).
@Suite(.enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist package"), .serialized)
struct TrainingTests {
    func losses(_ spec: NetSpec, iterations: Int, seed: UInt64) throws -> [Float] {
        var spec = spec
        spec.solver?.display = 5
        spec.solver?.testInterval = 0
        spec.solver?.testIter = 1  // the test at the end scores one batch: the losses are what is compared
        let trainer = try Trainer(spec: spec, options: TrainingOptions(maxIter: iterations, seed: seed, output: try temporaryFolder()))
        var losses: [Float] = []
        try trainer.run { event in
            if case .progress(let progress) = event, progress.isDisplayed { losses.append(progress.loss) }
        }
        return losses
    }

    @Test func sameSeedSameLosses() throws {
        let spec = try NetSpec.load(path: repositoryRoot + "/nets/logreg.yaml")
        let first = try losses(spec, iterations: 40, seed: 5)
        #expect(first.count == 8)
        #expect(try losses(spec, iterations: 40, seed: 5) == first)
        #expect(try losses(spec, iterations: 40, seed: 6) != first)
    }

    @Test func reversedLayerOrderTrainsIdentically() throws {
        let spec = try NetSpec.load(path: repositoryRoot + "/nets/lenet.yaml")
        var reversed = spec
        reversed.layers.reverse()
        #expect(try losses(reversed, iterations: 15, seed: 2) == losses(spec, iterations: 15, seed: 2))
    }

    @Test func logisticRegressionLearns() throws {
        var spec = try NetSpec.load(path: repositoryRoot + "/nets/logreg.yaml")
        spec.solver?.testIter = 20
        let trainer = try Trainer(spec: spec, options: TrainingOptions(maxIter: 300, output: try temporaryFolder()))
        let before = try trainer.test()
        try trainer.run(logging: false)
        let after = try trainer.test()
        #expect(after.images == 2000)
        #expect((before.accuracy ?? 1) < 0.2)   // all-zero weights: one class for everything
        #expect((after.accuracy ?? 0) > 0.7)
        #expect((after.loss ?? 9) < (before.loss ?? 0))
    }

    @Test func epochsBecomeIterations() throws {
        let spec = try NetSpec.load(path: repositoryRoot + "/nets/lenet.yaml")
        #expect(try Trainer(spec: spec, options: TrainingOptions(epochs: 1)).maxIter == 938)  // ⌈60000 / 64⌉
        #expect(try Trainer(spec: spec, options: TrainingOptions(epochs: 2.5)).maxIter == 2344)
    }

    @Test func separateSolverFileNamesItsNet() throws {
        let folder = try temporaryFolder()
        try "net: \(repositoryRoot)/nets/logreg.yaml\nbase_lr: 0.05\nmax_iter: 7\nlr_policy: fixed\n"
            .write(toFile: folder + "/solver.yaml", atomically: true, encoding: .utf8)
        let spec = try NetSpec.load(path: folder + "/solver.yaml")
        #expect(spec.name == "LogReg")
        let trainer = try Trainer(spec: spec)
        #expect(trainer.maxIter == 7)
        #expect(trainer.solver.rate(at: 3) == 0.05)
    }

    @Test func commandLineTrainsThenTests() throws {
        let folder = try temporaryFolder()
        var train = try SwiftCaffeCommand.parseAsRoot(["train", repositoryRoot + "/nets/logreg.yaml", "--max-iter", "20", "--output", folder, "--threads", "1"])
        try train.run()
        let weights = folder + "/logreg_iter_20.safetensors"
        #expect(FileManager.default.fileExists(atPath: weights))
        var test = try SwiftCaffeCommand.parseAsRoot(["test", repositoryRoot + "/nets/logreg.yaml", "--weights", weights, "--iterations", "2"])
        try test.run()
    }

    @Test func commandLineFailsCleanlyOnABadFile() throws {
        let folder = try temporaryFolder()
        try "layers:\n  - {name: x, type: Nonsense}\n".write(toFile: folder + "/bad.yaml", atomically: true, encoding: .utf8)
        var train = try SwiftCaffeCommand.parseAsRoot(["train", folder + "/bad.yaml"])
        #expect(throws: ExitCode.self) { try train.run() }
    }
}

import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Sequences as data: TextData's streams and markers, IDXData's images as rows, and a
/// character LSTM that learns a text and writes it back through `TextGenerator`.
@Suite struct SequenceDataTests {
    func textLayer(_ text: String, keys: String) throws -> (TextDataLayer, [Blob]) {
        let folder = try temporaryFolder()
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/text.txt"))
        let spec = try LayerSpec(try YAMLParser.parse("{name: t, type: TextData, source: text.txt, \(keys)}", file: "net.yaml"),
                                 index: 0, baseDirectory: folder)
        let layer = try LayerRegistry.make(spec, context: LayerContext(phase: .train, seed: 1)) as! TextDataLayer
        try spec.rejectUnknownKeys()
        let tops = [Blob(), Blob(), Blob()]
        try layer.setUp(bottom: [], top: tops)
        return (layer, tops)
    }

    @Test func textIsServedAsStreamsWithMarkersAndTargets() throws {
        // 13 characters, 12 with a successor: 2 streams of 6, read 4 steps at a time.
        let (layer, tops) = try textLayer("cabbage cabin", keys: "sequence_length: 4, batch_size: 2")
        #expect(layer.vocabulary.map { String($0) }.joined() == " abcegin")
        func letters(_ blob: Blob) -> String { blob.dataArray.map { String(layer.vocabulary[Int($0)]) }.joined() }
        layer.forward(bottom: [], top: tops)
        #expect(tops[0].shape == [4, 2])
        // Time-major: step 0 of both streams, then step 1 ... Stream 0 reads "cabbag", stream 1 "e cabi".
        #expect(letters(tops[0]) == "cea bcba")
        #expect(letters(tops[2]) == "a bcbaab")
        #expect(tops[1].dataArray == [0, 0, 1, 1, 1, 1, 1, 1])
        let saved = layer.saveState()
        layer.forward(bottom: [], top: tops)
        // Two more steps finish the streams, then they wrap round and start again (cont 0).
        #expect(letters(tops[0]) == "abgicea ")
        #expect(tops[1].dataArray == [1, 1, 1, 1, 0, 0, 1, 1])
        #expect(layer.epoch == 1)
        try layer.restoreState(saved)
        layer.forward(bottom: [], top: tops)
        #expect(letters(tops[0]) == "abgicea ")
    }

    /// Any bytes are a text: invalid UTF-8 becomes U+FFFD, one more character. Too little text
    /// for the streams, or none, is an error naming the layer.
    @Test func hostileTextFiles() throws {
        var rng = RandomGenerator(seed: 99)
        let bytes = (0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let folder = try temporaryFolder()
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/binary.txt"))
        let spec = try LayerSpec(try YAMLParser.parse("{name: t, type: TextData, source: binary.txt, sequence_length: 8, batch_size: 4}", file: "net.yaml"),
                                 index: 0, baseDirectory: folder)
        let layer = try LayerRegistry.make(spec, context: LayerContext(phase: .train, seed: 1)) as! TextDataLayer
        let tops = [Blob(), Blob(), Blob()]
        try layer.setUp(bottom: [], top: tops)
        #expect(layer.vocabulary.contains("\u{FFFD}"))
        for _ in 0..<50 { layer.forward(bottom: [], top: tops) }
        #expect(tops[0].dataArray.allSatisfy { $0 >= 0 && Int($0) < layer.vocabulary.count })
        #expect { try textLayer("", keys: "sequence_length: 1, batch_size: 1") } throws: { "\($0)".contains("layer 't'") }
        #expect { try textLayer("a", keys: "sequence_length: 1, batch_size: 1") } throws: { "\($0)".contains("fewer than") }
    }

    @Test func startAndEndReadPartsOfOneFileWithOneAlphabet() throws {
        let text = String(repeating: "abcdefghij", count: 10)
        let (head, _) = try textLayer(text, keys: "sequence_length: 2, batch_size: 2, end: 0.5")
        let (tail, _) = try textLayer(text, keys: "sequence_length: 2, batch_size: 2, start: 0.5")
        #expect(head.sampleCount == 49 && tail.sampleCount == 49)
        #expect(head.vocabulary == tail.vocabulary && head.labelMaximum == 9)
        #expect(throws: SwiftCaffeError.self) { try textLayer("ab", keys: "sequence_length: 4, batch_size: 2") }
        #expect(throws: SwiftCaffeError.self) { try textLayer("abcdefgh", keys: "sequence_length: 1, batch_size: 1, start: 0.6, end: 0.5") }
    }

    @Test func imagesAsSequencesOfRows() throws {
        let folder = try temporaryFolder()
        // Two 3×2 images whose pixel values say where they are: image·100 + row·10 + column.
        var pixels: [UInt8] = []
        for image in 0..<2 { for row in 0..<3 { for column in 0..<2 { pixels.append(UInt8(image * 100 + row * 10 + column)) } } }
        try writeIDX(folder + "/images", dimensions: [2, 3, 2], bytes: pixels)
        try writeIDX(folder + "/labels", dimensions: [2], bytes: [4, 7])
        let spec = try NetSpec.parse("""
            layers:
              - {name: d, type: IDXData, top: [rows, label, cont], images: images, labels: labels, batch_size: 2, sequence: rows}
            """, baseDirectory: folder)
        let net = try Net(spec: spec, phase: .train)
        try net.forward()
        #expect(net.blobs["rows"]!.shape == [3, 2, 2])
        #expect(net.blobs["rows"]!.dataArray == [0, 1, 100, 101, 10, 11, 110, 111, 20, 21, 120, 121])
        #expect(net.blobs["cont"]!.dataArray == [0, 0, 1, 1, 1, 1])
        #expect(net.blobs["label"]!.dataArray == [4, 7])
        let threeTops = try NetSpec.parse("""
            layers:
              - {name: d, type: IDXData, top: [data, label, cont], images: images, labels: labels, batch_size: 2}
            """, baseDirectory: folder)
        #expect { try Net(spec: threeTops, phase: .train) } throws: { "\($0)".contains("sequence: rows") }
    }

    /// A small LSTM learns a periodic text far below its unigram entropy, and then writes it
    /// back from a prime, which needs the state carried from character to character.
    @Test func aCharacterLSTMLearnsATextAndWritesItBack() throws {
        let folder = try temporaryFolder()
        try Data(String(repeating: "hello world, ", count: 80).utf8).write(to: URL(fileURLWithPath: folder + "/text.txt"))
        let yaml = """
            layers:
              - {name: text, type: TextData, top: [chars, cont, next], source: text.txt, sequence_length: 16, batch_size: 4}
              - {name: embed, type: Embed, bottom: chars, top: embedded, input_dim: 10, num_output: 8}
              - {name: lstm, type: LSTM, bottom: [embedded, cont], top: hidden, num_output: 32,
                 weight_filler: {type: uniform, min: -0.2, max: 0.2}}
              - {name: predict, type: InnerProduct, bottom: hidden, top: scores, num_output: 10, axis: 2, weight_filler: xavier}
              - {name: loss, type: SoftmaxWithLoss, bottom: [scores, next], top: loss, axis: 2}
              # Two readers of scores and next: the generator finds the scores through the Splits.
              - {name: accuracy, type: Accuracy, bottom: [scores, next], top: accuracy, axis: 2}
            solver: {type: Adam, base_lr: 0.02, max_iter: 150, display: 0, test_interval: 0, snapshot_prefix: run}
            """
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: folder + "/net.yaml"))
        let spec = try NetSpec.load(path: folder + "/net.yaml")
        let trainer = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        #expect(try trainer.run(logging: false) == .finished)
        let weights = folder + "/trained.safetensors"
        try trainer.trainNet.saveWeights(to: weights)
        let scored = try Net(spec: spec, phase: .test)
        try scored.loadWeights(from: weights)
        // "hello world, " has 9 distinct characters; its unigram entropy is 2.1 nats.
        let loss = try #require(try Evaluation.run(scored).outputs.first { $0.name == "loss" }?.value)
        #expect(loss < 0.2, "loss over the whole text \(loss)")

        let net = try Net(spec: try TextGenerator.spec(for: spec), phase: .test)
        try net.loadWeights(from: weights)
        let written = try TextGenerator(net: net).generate(prime: "hello w", length: 20, temperature: 0, seed: 1)
        #expect(written == "orld, hello world, h")
        #expect(throws: SwiftCaffeError.self) { try TextGenerator(net: net).generate(prime: "xyz", length: 5, temperature: 1, seed: 1) }

        // The same through the command line.
        let runner = Fuzzer(binary: FuzzTests.binary, repository: repositoryRoot, root: NSTemporaryDirectory(), seed: 0)
        let (outcome, output) = runner.run([FuzzTests.binary, "sample", folder + "/net.yaml", "--weights", weights,
                                            "--prime", "hello w", "--length", "20", "--temperature", "0"])
        #expect(outcome == .ran && output.contains("hello world, hello world, h"), "\(outcome): \(output.suffix(300))")
        let (refused, message) = runner.run([FuzzTests.binary, "sample", folder + "/net.yaml", "--weights", weights, "--prime", "xyz"])
        #expect(refused != .ran && message.contains("never occurs in the text"), "\(refused): \(message.suffix(300))")
    }

    /// A resumed run continues exactly: the text position and the LSTM's carried state (cont
    /// is 1 across batches here, so a lost state would change every later loss) are in the
    /// snapshot.
    @Test func aResumedCharacterRunIsBitIdentical() throws {
        let folder = try temporaryFolder()
        try Data(String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 4).utf8).write(to: URL(fileURLWithPath: folder + "/text.txt"))
        let yaml = """
            name: chars
            layers:
              - {name: text, type: TextData, top: [chars, cont, next], source: text.txt, sequence_length: 5, batch_size: 3}
              - {name: embed, type: Embed, bottom: chars, top: embedded, input_dim: 29, num_output: 4}
              - {name: lstm, type: LSTM, bottom: [embedded, cont], top: hidden, num_output: 6, weight_filler: {type: uniform, min: -0.3, max: 0.3}}
              - {name: predict, type: InnerProduct, bottom: hidden, top: scores, num_output: 29, axis: 2, weight_filler: xavier}
              - {name: loss, type: SoftmaxWithLoss, bottom: [scores, next], top: loss, axis: 2}
            solver: {type: Adam, base_lr: 0.01, max_iter: 16, display: 1, test_interval: 0, snapshot_prefix: run}
            """
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: folder + "/net.yaml"))
        let spec = try NetSpec.load(path: folder + "/net.yaml")
        func losses(_ trainer: Trainer, stopAt: Int? = nil) throws -> [Float] {
            var losses: [Float] = []
            if let stopAt { trainer.shouldStop = { trainer.iteration >= stopAt } }
            _ = try trainer.run(logging: false) { event in
                if case .progress(let progress) = event, progress.isDisplayed { losses.append(progress.loss) }
            }
            return losses
        }
        let whole = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/whole"))
        let all = try losses(whole)
        let first = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/split"))
        let head = try losses(first, stopAt: 7)
        let second = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/split"))
        try second.resume(from: folder + "/split/run_iter_7.solverstate")
        let tail = try losses(second)
        #expect(all.count == 16 && head + tail == all)
        for (a, b) in zip(whole.trainNet.parameters, second.trainNet.parameters) {
            #expect(a.blob.dataArray == b.blob.dataArray, "\(a.name) differs after resuming")
        }
    }
}

import Foundation
import Testing
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeIO
@testable import SwiftCaffeSpec

/// `Predictor`, the library's tensor-in, tensor-out API (docs/library.md).
@Suite struct PredictorTests {
    static let net = """
        name: tiny
        layers:
          - {name: data, type: Input, top: data, shape: [2, 3]}
          - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 4, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: gaussian, std: 0.5}}
          - {name: prob, type: Softmax, bottom: ip, top: prob}
        """

    @Test func anyNumberOfSamplesRunsInTheNetsBatchesAndMatchesTheNet() throws {
        let folder = try temporaryFolder()
        try Self.net.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        let reference = try Net(spec: try NetSpec.load(path: folder + "/net.yaml"), phase: .test)
        try reference.saveWeights(to: folder + "/w.safetensors")
        let model = try Predictor(net: folder + "/net.yaml", weights: folder + "/w.safetensors")
        #expect(model.inputs.map(\.name) == ["data"] && model.inputs[0].shape == [2, 3] && model.output == "prob")

        let samples = (0..<15).map { Float($0) * 0.1 - 0.7 }  // 5 samples: batches of 2, 2 and 1 (padded)
        let predicted = try model(Safetensors.Tensor(shape: [5, 3], values: samples))
        #expect(predicted.shape == [5, 4])
        for start in stride(from: 0, to: 5, by: 2) {
            let taken = min(2, 5 - start)
            try reference.forward(replacing: ["data": Array(samples[(start * 3)..<((start + taken) * 3)]) + [Float](repeating: 0, count: (2 - taken) * 3)])
            let expected = Array(reference.blobs["prob"]!.dataArray.prefix(taken * 4))
            #expect(Array(predicted.values[(start * 4)..<((start + taken) * 4)]) == expected)
        }
        #expect { try model(Safetensors.Tensor(shape: [5, 2], values: [Float](repeating: 0, count: 10))) } throws: { "\($0)".contains("takes N×3") }
        #expect { try model(["label": Safetensors.Tensor(shape: [1, 3], values: [0, 0, 0])]) } throws: { "\($0)".contains("no tensor for the input 'data'") }
    }

    /// A recurrent net's inputs are T×N×…: the samples lie along the second axis, and the
    /// output (N×10 here) along the first. Cutting along the first axis read past the output
    /// and gave 28 rows of garbage (and, by chance, NaN) for 100 sequences.
    @Test(.enabled(if: fashionMNISTInstalled))
    func aRecurrentNetSplitsSamplesAlongItsSequenceAxis() throws {
        let folder = try temporaryFolder()
        let spec = try NetSpec.load(path: repositoryRoot + "/nets/lstm_rows.yaml").setting("batch_size", to: "4") { $0.type == "IDXData" }
        try Net(spec: spec, phase: .test).saveWeights(to: folder + "/w.safetensors")
        let model = try Predictor(spec: spec, weights: folder + "/w.safetensors")
        #expect(model.inputs.map(\.name) == ["rows", "cont"] && model.inputs.map(\.batchAxis) == [1, 1] && model.outputBatchAxis == 0)

        // 6 sequences of 28 rows: batches of 4 and 2 (padded).
        var generator = RandomGenerator(seed: 7)
        let rows = (0..<(28 * 6 * 28)).map { _ in Float.random(in: 0...1, using: &generator) }
        let cont = (0..<(28 * 6)).map { $0 < 6 ? Float(0) : 1 }
        let predicted = try model(["rows": Safetensors.Tensor(shape: [28, 6, 28], values: rows), "cont": Safetensors.Tensor(shape: [28, 6], values: cont)])
        #expect(predicted.shape == [6, 10])
        for sample in 0..<6 {
            var alone: [Float] = []
            for t in 0..<28 {
                let first: Int = (t * 6 + sample) * 28
                alone += rows[first..<(first + 28)]
            }
            let markers: [Float] = [0] + [Float](repeating: 1, count: 27)
            let single = try model(["rows": Safetensors.Tensor(shape: [28, 1, 28], values: alone),
                                    "cont": Safetensors.Tensor(shape: [28, 1], values: markers)])
            let row = Array(predicted.values[(sample * 10)..<((sample + 1) * 10)])
            let largest = zip(single.values, row).map { abs($0 - $1) }.max() ?? 0
            #expect(single.shape == [1, 10] && largest < 1e-5, "sample \(sample): \(single.values) vs \(row)")
        }
        #expect { try model(["rows": Safetensors.Tensor(shape: [6, 28, 28], values: rows), "cont": Safetensors.Tensor(shape: [28, 6], values: cont)]) }
            throws: { error in "\(error)".contains("takes 28×N×28") }
    }

    /// A train/test net file goes in as it is: its data layer becomes the input, the loss goes.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: repositoryRoot + "/data/iris/train.csv")))
    func aTrainTestNetIsUsedInItsDeployForm() throws {
        #expect { try Predictor(net: repositoryRoot + "/nets/iris_mlp.yaml", weights: nil) } throws: { "\($0)".contains("no weights were given") }
        let folder = try temporaryFolder()
        try Net(spec: try NetSpec.load(path: repositoryRoot + "/nets/iris_mlp.yaml"), phase: .test).saveWeights(to: folder + "/w.safetensors")
        let model = try Predictor(net: repositoryRoot + "/nets/iris_mlp.yaml", weights: folder + "/w.safetensors")
        #expect(model.inputs.map(\.name) == ["data"] && model.output == "prob" && model.classNames == ["setosa", "versicolor", "virginica"])
    }
}

// Trains nets/iris_mlp.yaml from Swift, then classifies two flowers with the trained weights.
//
//     swift run --package-path Examples/Library iris-from-code [REPOSITORY]
//
// REPOSITORY is the SwiftCaffe checkout (default: the current folder), for its nets/ and data/.
import Foundation
import SwiftCaffe

LibraryEnvironment.restartIfNeeded()  // settings OpenBLAS and OpenMP read when they load (docs/library.md)
let repository = CommandLine.arguments.dropFirst().first ?? FileManager.default.currentDirectoryPath
let output = NSTemporaryDirectory() + "iris-from-code-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: output) }

do {
    // Train: the net file's solver, 300 iterations, snapshots into a folder of our own.
    let spec = try NetSpec.load(path: repository + "/nets/iris_mlp.yaml")
    let trainer = try Trainer(spec: spec, options: TrainingOptions(maxIter: 300, output: output))
    try trainer.run { event in
        if case .test(let result) = event, let accuracy = result.accuracy {
            print(String(format: "iteration %d: test accuracy %.3f", result.iteration, accuracy))
        }
    }
    let weights = trainer.prefix + "_iter_\(trainer.iteration).safetensors"

    // Predict: the deploy form of the same file, a tensor in and a tensor out.
    let model = try Predictor(spec: spec, weights: weights)
    print("input \(model.inputs[0].name) \(model.inputs[0].shape), output \(model.output)")
    // Sepal length, sepal width, petal length, petal width (cm) of a setosa and a virginica.
    let flowers = Safetensors.Tensor(shape: [2, 4], values: [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3])
    let probabilities = try model(flowers)
    for flower in 0..<2 {
        let row = Array(probabilities.values[(flower * 3)..<(flower * 3 + 3)])
        let best = row.indices.max { row[$0] < row[$1] }!
        print(String(format: "flower %d: %@ (%.3f)", flower, model.classNames[best], row[best]))
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}

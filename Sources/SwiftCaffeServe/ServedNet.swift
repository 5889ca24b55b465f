import Foundation
import SwiftCaffe
import SwiftCaffeLayers

/// A tensor a model takes or gives, as the v2 protocol describes it: its name and its shape,
/// with -1 on the axis that holds the samples.
struct TensorSignature: Sendable {
    var name: String
    /// The shape with `batchAxis` written as -1.
    var shape: [Int]
    var batchAxis: Int

    /// The size of one sample: every axis but the batch axis.
    var sampleCount: Int { shape.enumerated().reduce(1) { $0 * ($1.offset == batchAxis ? 1 : $1.element) } }
}

/// One loaded version of a model: its deploy net (`DeployNet`, as `swiftcaffe forward` runs
/// it), planned once per batch size class and the same weights shared by every plan.
///
/// A batch of n samples runs on the plan of the smallest class that holds it: the powers of
/// two below the largest batch, and the largest batch itself (1, 2, 4, 8, 16, 32 for 32).
/// The rows past n are zeros, and their outputs are dropped. So a server plans a handful of
/// nets however its requests are sized, and each plan is made the first time it is needed.
///
/// The nets are not thread-safe: only the model's `InferenceQueue` worker calls `run` and
/// `preparePicture`. Everything else here is fixed at load and read from any thread.
final class ServedNet: @unchecked Sendable {
    let inputs: [TensorSignature]
    let outputs: [TensorSignature]
    /// The outputs a request gets when it names none.
    let defaultOutputs: [String]
    /// The class names, one per score of the first output (empty when unknown).
    let classNames: [String]
    let maxBatch: Int
    /// How a picture becomes one sample of the first input (`/classify`); nil for a net
    /// whose first input is not N×1×H×W or N×3×H×W.
    let picture: PicturePreparation?
    /// Whether the first output is a Softmax's (else `/classify` applies one).
    let outputIsProbabilities: Bool
    /// What the deploy form left out of the net file, one sentence each.
    let notes: [String]

    private var plans: [Int: Predictor] = [:]
    private let first: Predictor

    init(netFile: String, weights: String?, config: ModelConfig, maxBatch serverMaxBatch: Int) throws {
        let spec = try NetSpec.load(path: netFile)
        let testNet = try NetPlan(spec: spec, options: NetOptions(phase: .test))
        var deploy = try DeployNet(spec)
        for (name, settings) in config.inputs {
            guard let layer = deploy.spec.layers.first(where: { $0.type == "Input" && $0.tops.contains(name) }) else {
                throw SwiftCaffeError("the config sets the input '\(name)', but the net's inputs are \(deploy.spec.layers.filter { $0.type == "Input" }.flatMap(\.tops).joined(separator: ", "))",
                                      hint: "name an input blob under 'inputs'")
            }
            let only: (LayerSpec) -> Bool = { $0.name == layer.name }
            if let shape = settings.shape {
                guard layer.tops.count == 1, (deploy.inputBatchAxes[name] ?? 0) == 0 else {
                    throw SwiftCaffeError("the config's shape for '\(name)': only an Input with one top and samples on its first axis can be reshaped here")
                }
                deploy.spec = try deploy.spec.setting("shape", to: { DeployNet.shapeNode([[1] + shape], at: $0) }, inLayers: only)
            }
            if let scale = settings.scale { deploy.spec = try deploy.spec.setting("scale", to: "\(scale)", inLayers: only) }
            if let means = settings.meanValues {
                deploy.spec = try deploy.spec.setting("mean_value", to: { at in YAMLNode(.sequence(means.map { YAMLNode(.scalar("\($0)", quoted: false), at: at) }), at: at) }, inLayers: only)
            }
        }
        let names = config.labels ?? testNet.dataSources.first?.labelNames ?? []
        // Planned at the file's batch, then at 1; the first plan goes, its parameters stay
        // with the nets that share them.
        let first = try Predictor(deploy: deploy, classNames: names, weights: weights, outputs: config.outputs ?? []).resized(toBatch: 1)
        self.first = first
        guard first.inputs.allSatisfy({ $0.batchAxis == 0 }) else {
            throw SwiftCaffeError("the net takes its samples along axis \(first.inputs.map(\.batchAxis).max() ?? 0) (a recurrent net's time-major sequences)",
                                  hint: "the server batches along the first axis: serve a net whose inputs are N×…")
        }
        func signature(_ name: String, _ shape: [Int], _ axis: Int) -> TensorSignature {
            TensorSignature(name: name, shape: shape.enumerated().map { $0.offset == axis ? -1 : $0.element }, batchAxis: axis)
        }
        inputs = first.inputs.map { signature($0.name, $0.shape, $0.batchAxis) }
        let outputs = first.outputs.map { signature($0.name, first.net.blobs[$0.name]!.shape, $0.batchAxis) }
        self.outputs = outputs
        defaultOutputs = outputs.map(\.name)
        // A net whose shapes are fixed (a Reshape to [1, 64], as exporters write for a batch
        // of 1) cannot be planned for 2: it runs one sample a forward.
        var largest = min(config.maxBatch ?? serverMaxBatch, serverMaxBatch)
        var second: Predictor?
        if largest > 1 {
            do { second = try first.resized(toBatch: 2) } catch { largest = 1 }
        }
        maxBatch = largest
        if let labels = config.labels, let scores = outputs.first, labels.count != scores.sampleCount {
            throw SwiftCaffeError("the config has \(labels.count) labels, but '\(scores.name)' holds \(scores.sampleCount) scores a sample",
                                  hint: "give one class name per score, in class order")
        }
        if let file = config.labelsFile, let scores = outputs.first {
            classNames = try Classifier.readLabels(file, classes: scores.sampleCount)
        } else {
            classNames = names.count == outputs.first?.sampleCount ? names : []
        }
        notes = first.notes
        outputIsProbabilities = first.net.blobs[outputs[0].name].map { first.net.plan.producer(of: $0) is SoftmaxLayer } ?? false

        let firstInput = first.inputs[0].name
        if let index = first.net.layers.indices.first(where: { first.net.tops[$0].first?.name == firstInput }),
           let source = first.net.layers[index] as? any PictureSource, first.inputs[0].shape.count == 4 {
            // The data layer the Input stands for may have resized and cropped its pictures.
            let dataLayer = spec.layers.first { $0.tops.contains(firstInput) && $0.bottoms.isEmpty && ($0.phase == nil || $0.phase == .test) }
            let settings = config.inputs[firstInput]
            picture = PicturePreparation(
                source: source, sampleCount: inputs[0].sampleCount,
                newHeight: try settings?.newHeight ?? dataLayer?.optionalInt("new_height", in: 1...1 << 16),
                newWidth: try settings?.newWidth ?? dataLayer?.optionalInt("new_width", in: 1...1 << 16),
                cropSize: try settings?.cropSize ?? dataLayer?.optionalInt("crop_size", in: 1...1 << 16))
        } else {
            picture = nil
        }
        plans[first.batchSize] = first
        plans[2] = second
    }

    /// The batch sizes planned for: powers of two below `maxBatch`, and `maxBatch`.
    var batchClasses: [Int] {
        var sizes: [Int] = []
        var size = 1
        while size < maxBatch { sizes.append(size); size *= 2 }
        return sizes + [maxBatch]
    }

    /// The plans made so far, by batch size (for the metrics).
    var plannedBatchSizes: [Int] { plans.keys.sorted() }

    /// Runs `samples` samples (each input holding them along its first axis); returns each
    /// output in `wanted` for those samples. More samples than `maxBatch` run in batches of
    /// `maxBatch`.
    func run(_ given: [String: Safetensors.Tensor], samples: Int, wanted: [String]) throws -> [String: Safetensors.Tensor] {
        let size = batchClasses.first { $0 >= samples } ?? maxBatch
        let plan: Predictor
        if let planned = plans[size] {
            plan = planned
        } else {
            plan = try first.resized(toBatch: size)
            plans[size] = plan
        }
        let results = try plan.run(given)
        return Dictionary(uniqueKeysWithValues: results.filter { wanted.contains($0.name) }.map { ($0.name, $0.tensor) })
    }
}

/// How `/classify` turns a picture into one sample: decoded gray or BGR as the input wants,
/// resized to `new_height`×`new_width` and centre-cropped to `crop_size` when the data layer
/// (or the config) says so, then resized to the input's size with its mean and scale
/// (`PictureSource`), as `swiftcaffe classify` prepares it.
struct PicturePreparation: @unchecked Sendable {
    let source: any PictureSource
    let sampleCount: Int
    let newHeight: Int?, newWidth: Int?
    let cropSize: Int?

    func sample(from bytes: [UInt8]) throws -> [Float] {
        var image = try RasterImage(encoded: bytes, name: "the request body", channels: source.pictureChannels)
        if let newHeight, let newWidth { image = image.resized(width: newWidth, height: newHeight) }
        if let cropSize, cropSize <= image.width, cropSize <= image.height {
            let top = (image.height - cropSize) / 2, left = (image.width - cropSize) / 2, channels = image.channels
            var pixels = [UInt8]()
            pixels.reserveCapacity(cropSize * cropSize * channels)
            for row in top..<(top + cropSize) {
                let start = (row * image.width + left) * channels
                pixels += image.pixels[start..<(start + cropSize * channels)]
            }
            image = RasterImage(width: cropSize, height: cropSize, channels: channels, pixels: pixels)
        }
        var values = [Float](repeating: 0, count: sampleCount)
        values.withUnsafeMutableBufferPointer { source.sample(from: image, into: $0.baseAddress!) }
        return values
    }
}

import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeLayers
import SwiftCaffeSpec

/// A trained net that classifies pictures: load the net and its weights once, then classify
/// as many pictures as you like.
///
///     let classifier = try Classifier(net: "nets/lenet.yaml", weights: "runs/lenet_iter_938.safetensors")
///     for prediction in try classifier.classify(path: "shoe.png", top: 3) {
///         print(prediction.name, prediction.probability)
///     }
///
/// The net is built in its test phase. Its first picture-serving layer (`IDXData`,
/// `ImageData`, or the `Input` of a deploy net) prepares each picture exactly as it prepares
/// its own test samples: resized to its size, gray or BGR, centre-cropped, mean and scale
/// (`PictureSource`). The class scores are the first input of the first layer that reads
/// labels (a loss or Accuracy layer); without one, the net's last output (a deploy net's
/// `prob`). Scores that are not already a Softmax's output get a softmax. Class names come
/// from the data layer's `label_names`, else they are the class numbers.
public final class Classifier {
    /// One class of one picture.
    public struct Prediction: Sendable, Equatable {
        public var label: Int
        public var name: String
        public var probability: Float
    }

    public let net: Net
    public let classNames: [String]
    let source: any PictureSource
    let input: Blob
    let scores: Blob
    let scoresAreProbabilities: Bool

    /// `keeping`: blobs besides the scores whose values are wanted after a picture has run
    /// (an inference net lets blobs take turns in shared memory, see `Net.init`).
    ///
    /// As Caffe's `classification.cpp` takes them: `labels` is a text file with one class
    /// name per line (`synset_words.txt`), which replaces the net's own names; `meanFile` is a
    /// mean image (`.binaryproto` or `.npy`) whose per-channel means are subtracted from each
    /// picture, for a deploy net whose Input says nothing about its mean.
    public init(net path: String, weights: String?, keeping blobs: Set<String> = [], labels: String? = nil, meanFile: String? = nil,
                state: NetState = NetState()) throws {
        var spec = try NetSpec.load(path: path, state: state)
        if let meanFile { spec = try Self.subtracting(channelMeansOf: meanFile, in: spec) }
        net = try Net(spec: spec, options: NetOptions(phase: .test, purpose: .inference, keeping: blobs))
        if let weights {
            try net.loadWeights(from: weights)
        } else if spec.weightsFile == nil, let first = net.parameters.first {
            throw SwiftCaffeError("the net has learnable parameters ('\(first.name)', ...) and no weights were given",
                                  hint: "pass the trained weights (.safetensors or .caffemodel)")
        }
        guard let index = net.layers.firstIndex(where: { $0 is any PictureSource }), let source = net.layers[index] as? any PictureSource else {
            throw SwiftCaffeError("the net '\(path)' has no layer that serves pictures in its test phase",
                                  hint: "classify needs an IDXData, ImageData or Input layer")
        }
        self.source = source
        input = net.tops[index][0]
        guard input.shape.count == 4, input.shape[1] == source.pictureChannels else {
            throw source.error("serves \(input.shapeDescription), not pictures (N×1×H×W or N×3×H×W)")
        }
        if let classifier = net.plan.classifier {
            scores = classifier.scores
        } else if let last = net.outputNames.last, let blob = net.blobs[last] {
            scores = blob
        } else {
            throw SwiftCaffeError("the net '\(path)' has no class scores to read", hint: "end it with a classifier (InnerProduct, then Softmax or a loss)")
        }
        guard scores.shape.first == input.shape[0], scores.count / max(scores.shape[0], 1) >= 1 else {
            throw SwiftCaffeError("'\(scores.name)' (\(scores.shapeDescription)) does not hold one row of class scores per picture")
        }
        scoresAreProbabilities = net.plan.producer(of: scores) is SoftmaxLayer
        let classes = scores.count / scores.shape[0]
        let given = try labels.map { try Self.readLabels($0, classes: classes) } ?? net.dataSources.first?.labelNames ?? []
        classNames = (0..<classes).map { $0 < given.count ? given[$0] : "\($0)" }
    }

    /// One name per line; the count must be the net's class count.
    public static func readLabels(_ path: String, classes: Int) throws -> [String] {
        let data = try FileChecks.contents(of: path, what: "the labels file")
        guard data.count <= 64 << 20, let text = String(data: data, encoding: .utf8) else {
            throw SwiftCaffeError("the labels file '\(path)' is not UTF-8 text of at most 64 MB", hint: "one class name per line")
        }
        let names = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let lines = names.last == "" ? Array(names.dropLast()) : names
        guard lines.count == classes else {
            throw SwiftCaffeError("the labels file '\(path)' has \(lines.count) lines, but the net scores \(classes) classes",
                                  hint: "give one name per class, in class order (Caffe's synset_words.txt for ImageNet nets)")
        }
        return lines
    }

    /// The spec with the first picture layer's `mean_value` set to the per-channel means of
    /// the mean image in `meanFile` (Caffe's classification.cpp does the same).
    static func subtracting(channelMeansOf meanFile: String, in spec: NetSpec) throws -> NetSpec {
        guard let tensor = try TensorFiles.read(meanFile).tensors.first?.tensor, tensor.shape.count >= 3 else {
            throw SwiftCaffeError("the mean file '\(meanFile)' holds no C×H×W image", hint: "pass a .binaryproto written by compute-image-mean, or a .npy")
        }
        let channels = tensor.shape[tensor.shape.count - 3], area = tensor.shape.suffix(2).reduce(1, *)
        let means = (0..<channels).map { c in tensor.values[(c * area)..<((c + 1) * area)].reduce(0.0) { $0 + Double($1) } / Double(max(area, 1)) }
        var spec = spec
        guard let index = spec.layers.firstIndex(where: { ["Input", "ImageData", "IDXData"].contains($0.type) && ($0.phase == nil || $0.phase == .test) }) else {
            throw SwiftCaffeError("--mean-file: the net has no picture layer (Input, ImageData or IDXData) to subtract the mean in")
        }
        let layer = spec.layers[index]
        guard !layer.has("mean_value"), !layer.has("mean_file") else {
            throw layer.error("already has a mean", hint: "drop --mean-file, or the layer's mean_value / mean_file")
        }
        guard case .mapping(let pairs) = layer.node.kind else { return spec }
        let location = layer.node.location
        let values = YAMLNode(.sequence(means.map { YAMLNode(.scalar("\($0)", quoted: false), at: location) }), at: location)
        let node = YAMLNode(.mapping(pairs + [(YAMLNode(.scalar("mean_value", quoted: false), at: location), values)]), at: location)
        spec.layers[index] = try LayerSpec(node, index: index, baseDirectory: layer.baseDirectory)
        return spec
    }

    /// The probability of every class, for each picture (decoded as the net wants them).
    public func probabilities(_ images: [RasterImage]) throws -> [[Float]] {
        let batch = input.shape[0], sampleSize = input.count / batch, classes = classNames.count
        var results: [[Float]] = []
        for start in stride(from: 0, to: images.count, by: batch) {
            let chunk = images[start..<min(start + batch, images.count)]
            var values = [Float](repeating: 0, count: input.count)
            values.withUnsafeMutableBufferPointer { buffer in
                for (slot, image) in chunk.enumerated() { source.sample(from: image, into: buffer.baseAddress! + slot * sampleSize) }
            }
            try net.forward(replacing: [input.name: values])
            if firstNonFinite(scores.data, chunk.count * classes) != nil {
                throw net.nonFiniteError(replacing: [input.name: values], during: "classifying")
            }
            var rows = Array(UnsafeBufferPointer(start: scores.data, count: chunk.count * classes))
            if !scoresAreProbabilities {
                rows.withUnsafeMutableBufferPointer { softmax($0.baseAddress!, $0.baseAddress!, outer: chunk.count, channels: classes, inner: 1) }
            }
            for slot in 0..<chunk.count { results.append(Array(rows[(slot * classes)..<((slot + 1) * classes)])) }
        }
        return results
    }

    /// The `top` most probable classes of the picture file `path`, most probable first.
    public func classify(path: String, top: Int = 5) throws -> [Prediction] {
        let image = try RasterImage(path: path, channels: source.pictureChannels)
        let row = try probabilities([image])[0]
        return row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(max(top, 1)).map {
            Prediction(label: $0, name: classNames[$0], probability: row[$0])
        }
    }
}

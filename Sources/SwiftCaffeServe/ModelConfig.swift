import Foundation
import SwiftCaffe

/// The optional `config.yaml` of a model (`REPOSITORY/NAME/config.yaml`, for every version) or
/// of one version (`REPOSITORY/NAME/VERSION/config.yaml`, which wins key by key). Without one,
/// a version folder serves its net's deploy form as `swiftcaffe forward` runs it.
///
///     max_batch: 16                   # at most this many samples a forward (default --max-batch)
///     labels: synset_words.txt        # or a list; one class name per line, in class order
///     outputs: [prob, fc7]            # the blobs a request may ask for (default: prob or the last output)
///     inputs:
///       data:                         # an input blob
///         shape: [3, 227, 227]        # one sample's shape (default: the net's)
///         scale: 0.00390625           # how /classify prepares a picture, as a data layer has them
///         mean_value: [104, 117, 123]
///         new_height: 256             # resize first ...
///         new_width: 256
///         crop_size: 227              # ... then take the centre crop
///
/// Every key is checked: an unknown one is an error at its line, as in a net file.
struct ModelConfig {
    /// Picture preparation and shape for one input blob.
    struct Input {
        var shape: [Int]?
        var scale: Float?
        var meanValues: [Float]?
        var newHeight: Int?, newWidth: Int?
        var cropSize: Int?
    }

    var maxBatch: Int?
    var labels: [String]?
    /// A labels file (one name per line), read once the class count is known.
    var labelsFile: String?
    var outputs: [String]?
    var inputs: [String: Input] = [:]

    static let fileName = "config.yaml"

    /// The model's config overlaid with the version's, either or both absent.
    static func load(modelFolder: String, versionFolder: String) throws -> ModelConfig {
        var config = ModelConfig()
        for folder in [modelFolder, versionFolder] {
            let path = folder + "/" + fileName
            guard FileManager.default.fileExists(atPath: path) else { continue }
            try config.overlay(YAMLParser.parse([UInt8](try FileChecks.contents(of: path, what: "the model config")), file: path), folder: folder)
        }
        return config
    }

    private mutating func overlay(_ root: YAMLNode, folder: String) throws {
        guard let pairs = root.mapping else { throw SwiftCaffeError("a model config is a mapping of keys", at: root.location, hint: "see docs/serving.md") }
        for (key, value) in pairs {
            switch key.scalar ?? "" {
            case "max_batch": maxBatch = try Self.int(value, in: 1...4096)
            case "labels":
                if let list = value.sequence {
                    labels = try list.map { try Self.text($0) }
                    labelsFile = nil
                } else {
                    let path = try Self.text(value)
                    labelsFile = path.hasPrefix("/") ? path : folder + "/" + path
                    labels = nil
                }
            case "outputs":
                guard let list = value.sequence, !list.isEmpty else { throw SwiftCaffeError("'outputs' is a list of blob names", at: value.location) }
                outputs = try list.map { try Self.text($0) }
            case "inputs":
                guard let blobs = value.mapping else { throw SwiftCaffeError("'inputs' maps input blob names to their settings", at: value.location) }
                for (blob, settings) in blobs {
                    let name = try Self.text(blob)
                    inputs[name] = try Self.input(settings, over: inputs[name] ?? Input())
                }
            default:
                throw SwiftCaffeError("unknown key '\(key.scalar ?? key.kindDescription)' in a model config", at: key.location,
                                      hint: "the keys are max_batch, labels, outputs and inputs (docs/serving.md)")
            }
        }
    }

    private static func input(_ node: YAMLNode, over base: Input) throws -> Input {
        guard let pairs = node.mapping else { throw SwiftCaffeError("an input's settings are a mapping", at: node.location) }
        var input = base
        for (key, value) in pairs {
            switch key.scalar ?? "" {
            case "shape":
                guard let list = value.sequence, !list.isEmpty else { throw SwiftCaffeError("'shape' is one sample's sizes, such as [3, 224, 224]", at: value.location) }
                input.shape = try list.map { try int($0, in: 1...1 << 20) }
            case "scale": input.scale = try float(value)
            case "mean_value":
                input.meanValues = try (value.sequence ?? [value]).map { try float($0) }
            case "new_height": input.newHeight = try int(value, in: 1...1 << 16)
            case "new_width": input.newWidth = try int(value, in: 1...1 << 16)
            case "crop_size": input.cropSize = try int(value, in: 1...1 << 16)
            default:
                throw SwiftCaffeError("unknown key '\(key.scalar ?? key.kindDescription)' for an input", at: key.location,
                                      hint: "an input takes shape, scale, mean_value, new_height, new_width and crop_size")
            }
        }
        return input
    }

    private static func text(_ node: YAMLNode) throws -> String {
        guard let text = node.scalar, !text.isEmpty else { throw SwiftCaffeError("expected a name here, found \(node.kindDescription)", at: node.location) }
        return text
    }

    private static func int(_ node: YAMLNode, in range: ClosedRange<Int>) throws -> Int {
        guard let text = node.scalar, let value = Int(text), range.contains(value) else {
            throw SwiftCaffeError("expected a whole number from \(range.lowerBound) to \(range.upperBound), found '\(node.scalar ?? node.kindDescription)'", at: node.location)
        }
        return value
    }

    private static func float(_ node: YAMLNode) throws -> Float {
        guard let text = node.scalar, let value = Float(text), value.isFinite else {
            throw SwiftCaffeError("expected a finite number, found '\(node.scalar ?? node.kindDescription)'", at: node.location)
        }
        return value
    }
}

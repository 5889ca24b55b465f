import Foundation
import SwiftCaffeCore
import SwiftCaffeData
import SwiftCaffeIO
import SwiftCaffeSpec

/// Caffe's `ImageData`: images named in a list file, decoded as they are needed.
///
/// `source` is a text file of `path label` lines (the label after the last space, so paths
/// may hold spaces). Paths are relative to `root_folder` when it is given, otherwise to the list
/// file's folder. Images are PNG or JPEG, read as colour (`is_color: true`, the default) or
/// gray, whatever the file holds. `new_height` and `new_width` resize every image (bilinear);
/// without them every image must have the size of the first. Tops: data (N×C×H×W, channels in
/// Caffe's BGR order, so Caffe-trained weights see what they expect) and, optionally, labels.
/// `batch_size`, `shuffle`, `label_names` and the `DataTransform` keys (`scale`,
/// `mean_value`, `crop_size`, `mirror`, `pad`, `cutout`) work as on IDXData.
///
/// Images are decoded and transformed on a background thread while the net computes
/// (`RecordFeeder`): at steady state a training iteration does not wait for them. Only the
/// list is read at set-up, plus the first image for the shape; a missing file is found then,
/// by its name alone. A damaged image, or one of another size, is an error naming the list
/// file's line when its batch is read.
public final class ImageDataLayer: Layer, DatasetLayer, PictureSource {
    public let spec: LayerSpec
    public var params: [Blob] = []
    package static let sampleNoun = "images"

    package let keys: DatasetKeys
    let transform: DataTransform
    let listPath: String
    let rootFolder: String
    let newHeight: Int, newWidth: Int
    let channels: Int
    /// The list, in file order: where each image is, its label, its line in the list file.
    private var entries: [(path: String, label: Int, line: Int)] = []
    /// The decoded image's size.
    private var imageHeight = 0, imageWidth = 0
    private var labelsWanted = false
    private var feeder: RecordFeeder?
    package var cursor: (any DataCursor)? { feeder }

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        keys = try DatasetKeys(spec, context: context)
        transform = try DataTransform(spec, phase: context.phase, seed: context.seed)
        listPath = try spec.path("source")
        rootFolder = spec.has("root_folder") ? try spec.path("root_folder") : URL(fileURLWithPath: listPath).deletingLastPathComponent().path
        newHeight = try spec.int("new_height", default: 0, in: 0...65_536)
        newWidth = try spec.int("new_width", default: 0, in: 0...65_536)
        if (newHeight == 0) != (newWidth == 0) {
            throw spec.error("give both 'new_height' and 'new_width', or neither", at: spec.node(newHeight == 0 ? "new_width" : "new_height"))
        }
        channels = try spec.bool("is_color", default: true) ? 3 : 1
    }

    public var labelMaximum: Int? { labelsWanted ? entries.map(\.label).max() : nil }

    public func forward(bottom: [Blob], top: [Blob]) throws { try feeder!.forward(top: top) }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        entries = try ImageList.read(listPath, rootFolder: rootFolder, rootGiven: spec.has("root_folder"), layer: spec.description)
        if newHeight > 0 {  // a resized picture (and its planes) is made before the net's memory plan is checked
            try MemoryBudget.require(floats: Double(newHeight) * Double(newWidth) * Double(channels), for: "one \(newWidth)×\(newHeight) picture")
        }
        var reader = ImageListReader(listPath: listPath, layer: spec.description, channels: channels, newHeight: newHeight,
                                     newWidth: newWidth, entries: entries)
        let first = try reader.decode(entries[0])
        (imageHeight, imageWidth) = (first.height, first.width)
        reader.firstSize = (first.height, first.width)
        // The prefetch thread decodes through a copy of the reader, never through the layer.
        feeder = try RecordFeeder(order: keys.order(count: entries.count), transform: transform, sample: (channels, imageHeight, imageWidth)) { [reader] index in
            let entry = reader.entries[index]
            let image = try reader.decode(entry)
            return DecodedRecord(pixels: .bytes(image.planes()),  // H×W×C, RGB → C×H×W, BGR (Caffe's order)
                                 channels: image.channels, height: image.height, width: image.width, label: entry.label)
        }
        labelsWanted = top.count == 2
        try top[0].reshape([batchSize] + feeder!.servedShape)
        if top.count == 2 { try top[1].reshape([batchSize]) }
    }

    public var pictureChannels: Int { channels }

    public func sample(from image: RasterImage, into output: UnsafeMutablePointer<Float>) {
        transform.apply(image, height: imageHeight, width: imageWidth, into: output)
    }

}

/// How ImageData decodes the images its list names: everything the prefetch thread needs, by
/// value, so that it never touches the layer.
private struct ImageListReader {
    let listPath: String
    let layer: String
    let channels: Int
    let newHeight: Int, newWidth: Int
    let entries: [(path: String, label: Int, line: Int)]
    /// The first image's size, which every other must have (after resizing).
    var firstSize: (height: Int, width: Int)?

    /// An entry's image, decoded and resized; errors name its line in the list file.
    func decode(_ entry: (path: String, label: Int, line: Int)) throws -> RasterImage {
        let location = FileLocation(file: listPath, line: entry.line, column: 1)
        do {
            var image = try RasterImage(path: entry.path, channels: channels)
            if newHeight > 0 { image = image.resized(width: newWidth, height: newHeight) }
            if let firstSize, image.height != firstSize.height || image.width != firstSize.width {
                throw SwiftCaffeError("'\(entry.path)' is \(image.width)×\(image.height), the first image \(firstSize.width)×\(firstSize.height)",
                                      hint: "give new_height and new_width to resize every image to one size")
            }
            return image
        } catch let error as SwiftCaffeError {
            throw error.inLayer(layer, at: location)
        }
    }
}

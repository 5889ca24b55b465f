import SwiftCaffeCore
import SwiftCaffeData
import SwiftCaffeIO
import SwiftCaffeSpec

/// Reads an MNIST-format pair of files (images and labels, `.gz` or plain) and serves
/// mini-batches: top 0 is the images (N×1×H×W, or N×C×H×W for 4-D files) times `scale`,
/// top 1 the labels (N) as floats.
///
/// With `sequence: rows` each image becomes a sequence of its rows, for recurrent layers: top
/// 0 is then H×N×(C·W) (time steps first, as RNN and LSTM take it) and an optional third top
/// gives Caffe's continuation markers (H×N: 0 at the first row of every image, 1 after), so
/// every image is a sequence of its own.
///
/// The data set stays in memory as the files' bytes and is converted per batch, which keeps
/// memory at a quarter of a Float32 copy. With `shuffle: true` the order is a new seeded
/// permutation for every pass; batches wrap around the end of a pass as in Caffe.
///
/// Caffe's `transform_param` keys and two more augmentations apply to C×H×W samples
/// (`DataTransform`): `scale`, `mean_value`, `crop_size`, `mirror`, `pad`, `cutout`.
public final class IDXDataLayer: Layer, DatasetLayer, PictureSource {
    public let spec: LayerSpec
    public var params: [Blob] = []
    package static let sampleNoun = "images"
    public static var topCount: ClosedRange<Int> { 1...3 }

    package let keys: DatasetKeys
    let transform: DataTransform
    let imagesPath: String
    let labelsPath: String?
    /// Whether images are served as sequences of rows (`sequence: rows`).
    let rowsAsSequence: Bool
    private var images = IDXFile.empty
    private var labels: [UInt8] = []
    /// A sample's shape and size in the file, and as served (after cropping).
    private var sampleShape: [Int] = []
    private var sampleSize = 0
    private var servedShape: [Int] = []
    public var labelMaximum: Int? { labels.isEmpty ? nil : Int(labels.max() ?? 0) }
    /// Where the layer stands in its data set.
    private var samples: SampleCursor
    package var cursor: (any DataCursor)? { samples }

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        imagesPath = try spec.path("images")
        labelsPath = spec.has("labels") ? try spec.path("labels") : nil
        keys = try DatasetKeys(spec, context: context)
        transform = try DataTransform(spec, phase: context.phase, seed: context.seed)
        rowsAsSequence = try spec.choice("sequence", from: ["none", "rows"], default: "none") == "rows"
        samples = SampleCursor(keys.order(count: 0))
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        if top.count == 3 && !rowsAsSequence {
            throw error("three tops, but only 'sequence: rows' has a third (the continuation markers)",
                        hint: "add 'sequence: rows', or give two tops (data, label)")
        }
        if top.count >= 2 && labelsPath == nil {
            throw error("two tops (data, label) but no 'labels' file", hint: "add 'labels: <path>' or drop the second top")
        }
        let imageFile: IDXFile
        do { imageFile = try IDXFile(path: imagesPath) } catch let error as SwiftCaffeError {
            throw self.error("images: \(error.message)", hint: error.hint)
        }
        guard imageFile.dimensions.count >= 2 else {
            throw error("images file '\(imagesPath)' is \(imageFile.dimensions.count)-D; expected N×H×W or N×C×H×W")
        }
        let sampleCount = imageFile.dimensions[0]
        sampleShape = Array(imageFile.dimensions.dropFirst())
        if sampleShape.count == 2 { sampleShape.insert(1, at: 0) }
        sampleSize = sampleShape.reduce(1, *)
        images = imageFile
        guard sampleCount > 0 else { throw error("images file '\(imagesPath)' holds no images") }
        guard sampleCount < Int(Int32.max) else {
            throw error("images file '\(imagesPath)' holds \(sampleCount) images; SwiftCaffe numbers samples with 32 bits", hint: "split the data set")
        }
        if top.count >= 2, let labelsPath {
            let labelFile: IDXFile
            do { labelFile = try IDXFile(path: labelsPath) } catch let error as SwiftCaffeError {
                throw self.error("labels: \(error.message)", hint: error.hint)
            }
            guard labelFile.dimensions.count == 1 else {
                throw error("labels file '\(labelsPath)' is \(labelFile.dimensions.count)-D; expected one label per image")
            }
            guard labelFile.dimensions[0] == sampleCount else {
                throw error("\(sampleCount) images but \(labelFile.dimensions[0]) labels",
                            hint: "'images' and 'labels' must come from the same data set")
            }
            labels = Array(labelFile.bytes)
        }
        samples = SampleCursor(keys.order(count: sampleCount))
        if !transform.isScaleOnly {
            guard !rowsAsSequence, sampleShape.count == 3 else {
                throw error(rowsAsSequence ? "crop, mirror, mean, pad and cutout do not apply to images served as rows"
                                           : "crop, mirror, mean, pad and cutout need C×H×W images; '\(imagesPath)' holds \(sampleShape.count)-D samples",
                            hint: "keep only 'scale'")
            }
            servedShape = try transform.outputShape(channels: sampleShape[0], height: sampleShape[1], width: sampleShape[2])
        } else {
            servedShape = sampleShape
        }
        if rowsAsSequence {
            try top[0].reshape([sampleShape[1], batchSize, sampleShape[0] * sampleShape[2...].reduce(1, *)])
            if top.count == 3 { try top[2].reshape([sampleShape[1], batchSize]) }
        } else {
            try top[0].reshape([batchSize] + servedShape)
        }
        if top.count >= 2 { try top[1].reshape([batchSize]) }
    }

    /// Rows and continuation markers are time steps first (T×N…); the labels are N.
    public func batchAxis(ofTop index: Int) -> Int { rowsAsSequence && index != 1 ? 1 : 0 }

    /// A picture as an image of the file: gray, or its planes in the file's order (R, G, B, as
    /// `swiftcaffe convert` writes them).
    public var pictureChannels: Int { sampleShape.count == 3 && sampleShape[0] == 3 ? 3 : 1 }

    public func sample(from image: RasterImage, into output: UnsafeMutablePointer<Float>) {
        let height = sampleShape.count == 3 ? sampleShape[1] : 1, width = sampleShape.last ?? 1
        transform.apply(image, height: height, width: width, bgr: false, into: output)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let data = top[0].data
        let labelData = top.count >= 2 ? top[1].data : nil
        let channels = sampleShape[0], rows = sampleShape[1], width = sampleShape[2...].reduce(1, *)
        let servedSize = servedShape.reduce(1, *)
        images.storage.withUnsafeBufferPointer { file in
            let values = file.baseAddress! + images.valuesOffset
            for item in 0..<batchSize {
                let sample = samples.next()
                let source = values + sample * sampleSize
                labelData?[item] = Float(labels[sample])
                guard rowsAsSequence else {
                    let target = data + item * servedSize
                    if transform.isScaleOnly {
                        for i in 0..<sampleSize { target[i] = Float(source[i]) * transform.scale }
                    } else {
                        transform.apply(source, channels: channels, height: rows, width: width, into: target, draw: samples.lastDraw)
                    }
                    continue
                }
                // Row r of every channel is time step r of this item's stream.
                for r in 0..<rows {
                    let target = data + (r * batchSize + item) * channels * width
                    for c in 0..<channels {
                        for w in 0..<width { target[c * width + w] = Float(source[(c * rows + r) * width + w]) * transform.scale }
                    }
                }
            }
        }
        if rowsAsSequence, top.count == 3 {
            let cont = top[2].data
            for r in 0..<rows { for item in 0..<batchSize { cont[r * batchSize + item] = r == 0 ? 0 : 1 } }
        }
    }
}

import Foundation

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
/// (`BatchPrefetcher`): at steady state a training iteration does not wait for them. Only the
/// list is read at set-up, plus the first image for the shape; a missing file is found then,
/// by its name alone. A damaged image, or one of another size, is an error naming the list
/// file's line when its batch is read.
public final class ImageDataLayer: Layer, DataSource, StatefulLayer, ForwardFailing, PrefetchingDataSource, PictureSource {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 0...0 }
    public static var topCount: ClosedRange<Int> { 1...2 }
    public var dataSource: DataSource? { self }

    let keys: DatasetKeys
    let transform: DataTransform
    let listPath: String
    let rootFolder: String
    let newHeight: Int, newWidth: Int
    let channels: Int
    /// The list, in file order: where each image is, its label, its line in the list file.
    private var entries: [(path: String, label: Int, line: Int)] = []
    /// The decoded image's size, and the served sample's shape after the transform.
    private var imageHeight = 0, imageWidth = 0
    private var servedShape: [Int] = []
    private var labelsWanted = false

    /// The data order as the prefetch thread advances it, and as it stood after the last
    /// batch served (what a snapshot saves and a rewind returns to).
    private var order: SampleOrder
    private var servedOrder: SampleOrder
    private let prefetcher = BatchPrefetcher()
    /// The batch the prefetch thread fills, the error it met, and whether it holds a batch.
    private var buffer: [Float] = [], labelBuffer: [Float] = []
    private var fillError: SwiftCaffeError?
    private var forwardError: SwiftCaffeError?
    private var bufferReady = false

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        keys = try DatasetKeys(spec, context: context)
        transform = try DataTransform(spec, context: context)
        listPath = try spec.path("source")
        rootFolder = spec.has("root_folder") ? try spec.path("root_folder") : URL(fileURLWithPath: listPath).deletingLastPathComponent().path
        newHeight = try spec.int("new_height", default: 0, in: 0...65_536)
        newWidth = try spec.int("new_width", default: 0, in: 0...65_536)
        if (newHeight == 0) != (newWidth == 0) {
            throw spec.error("give both 'new_height' and 'new_width', or neither", at: spec.node(newHeight == 0 ? "new_width" : "new_height"))
        }
        channels = try spec.bool("is_color", default: true) ? 3 : 1
        order = keys.order(count: 0)
        servedOrder = order
    }

    deinit { prefetcher.stop() }

    public var sampleCount: Int { entries.count }
    public var batchSize: Int { keys.batchSize }
    public var labelNames: [String] { keys.labelNames }
    public var labelMaximum: Int? { labelsWanted ? entries.map(\.label).max() : nil }
    public var epoch: Int { servedOrder.epoch }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        try readList()
        if newHeight > 0 {  // a resized picture (and its planes) is made before the net's memory plan is checked
            try MemoryBudget.require(floats: Double(newHeight) * Double(newWidth) * Double(channels), for: "one \(newWidth)×\(newHeight) picture")
        }
        let first = try decode(entries[0])
        imageHeight = first.height
        imageWidth = first.width
        servedShape = try transform.outputShape(channels: channels, height: imageHeight, width: imageWidth, layer: self)
        guard entries.count < Int(Int32.max) else { throw error("'\(listPath)' lists \(entries.count) images; SwiftCaffe numbers samples with 32 bits") }
        order = keys.order(count: entries.count)
        servedOrder = order
        labelsWanted = top.count == 2
        try top[0].reshape([batchSize] + servedShape)
        if top.count == 2 { try top[1].reshape([batchSize]) }
        // The prefetch buffer is a second copy of the batch, allocated here, before the net's plan.
        try MemoryBudget.require(floats: Double(top[0].count + batchSize), for: "the prefetch buffer of \(batchSize) pictures")
        buffer = [Float](repeating: 0, count: top[0].count)
        labelBuffer = [Float](repeating: 0, count: batchSize)
        bufferReady = false
    }

    /// Reads the list file: every line `path label`; blank lines are skipped. A line without
    /// a label or with a bad one, or naming a file that does not exist, is an error at its line.
    private func readList() throws {
        try MemoryBudget.require(toRead: listPath, copies: 4, for: "reading the list '\(listPath)'")
        guard let data = FileManager.default.contents(atPath: listPath) else {
            throw error("cannot read the list file '\(listPath)'", hint: "check 'source' (relative paths start at the net file's folder)")
        }
        entries = []
        for (index, rawLine) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            func failure(_ message: String, hint: String) -> SwiftCaffeError {
                SwiftCaffeError(message, at: FileLocation(file: listPath, line: index + 1, column: 1), layer: spec.description, hint: hint)
            }
            guard let space = line.lastIndex(where: { $0 == " " || $0 == "\t" }) else {
                throw failure("'\(line)' has no label", hint: "write each line as 'path label', e.g. 'images/cat.png 3'")
            }
            let name = line[..<space].trimmingCharacters(in: .whitespaces), labelText = line[line.index(after: space)...]
            guard let label = Int(labelText), (0..<Int(Int32.max)).contains(label) else {
                throw failure("the label '\(labelText)' is not a class number", hint: "labels are whole numbers from 0")
            }
            guard !name.isEmpty else { throw failure("the line has a label but no image", hint: "write each line as 'path label'") }
            let path = SpecMapping.resolve(name, against: rootFolder)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else {
                throw failure("no image '\(path)'", hint: spec.has("root_folder") ? "check the path and 'root_folder'"
                                                                                   : "paths are relative to the list file's folder unless 'root_folder' is given")
            }
            entries.append((path, label, index + 1))
        }
        guard !entries.isEmpty else { throw error("the list file '\(listPath)' names no images", hint: "write one 'path label' line per image") }
    }

    /// An entry's image, decoded and resized; errors name its line in the list file.
    private func decode(_ entry: (path: String, label: Int, line: Int)) throws -> RasterImage {
        let location = FileLocation(file: listPath, line: entry.line, column: 1)
        do {
            var image = try RasterImage(path: entry.path, channels: channels)
            if newHeight > 0 { image = image.resized(width: newWidth, height: newHeight) }
            if imageHeight > 0 && (image.height != imageHeight || image.width != imageWidth) {
                throw SwiftCaffeError("'\(entry.path)' is \(image.width)×\(image.height), the first image \(imageWidth)×\(imageHeight)",
                                      hint: "give new_height and new_width to resize every image to one size")
            }
            return image
        } catch let error as SwiftCaffeError {
            throw error.inLayer(spec.description, at: location)
        }
    }

    /// Decodes and transforms the next batch into the buffer (on the prefetch thread).
    private func fillBuffer() {
        let sampleSize = servedShape.reduce(1, *)
        var planes: [UInt8] = []
        for item in 0..<batchSize {
            let sample = order.next()
            let entry = entries[sample]
            labelBuffer[item] = Float(entry.label)
            guard fillError == nil else { continue }  // keep the order moving; the batch is lost anyway
            let image: RasterImage
            do { image = try decode(entry) } catch let error as SwiftCaffeError { fillError = error; continue } catch { continue }
            planes = image.planes()  // H×W×C, RGB → C×H×W, BGR (Caffe's order)
            buffer.withUnsafeMutableBufferPointer { output in
                planes.withUnsafeBufferPointer { input in
                    transform.apply(input.baseAddress!, channels: channels, height: imageHeight, width: imageWidth,
                                    into: output.baseAddress! + item * sampleSize, draw: order.lastDraw)
                }
            }
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        if prefetcher.isFilling {
            prefetcher.waitUntilFilled()
        } else if !bufferReady {
            fillBuffer()  // the first batch, or the first after a rewind: nothing to overlap with
        }
        buffer.withUnsafeBufferPointer { top[0].data.update(from: $0.baseAddress!, count: top[0].count) }
        if top.count == 2 { labelBuffer.withUnsafeBufferPointer { top[1].data.update(from: $0.baseAddress!, count: batchSize) } }
        forwardError = fillError
        fillError = nil
        servedOrder = order
        bufferReady = false
        prefetcher.startFilling { [self] in
            fillBuffer()
            bufferReady = true
        }
        return 0
    }

    public func takeForwardError() -> SwiftCaffeError? {
        defer { forwardError = nil }
        return forwardError
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}

    /// Drops the batch being prepared and puts the order back to where the last batch served
    /// left it (or, for a rewind, to the start).
    private func discardPrefetched() {
        prefetcher.waitUntilFilled()
        order = servedOrder
        bufferReady = false
        fillError = nil
    }

    public func rewind() {
        discardPrefetched()
        order.rewind()
        servedOrder = order
    }

    public func saveState() -> LayerState { servedOrder.save() }

    public func restoreState(_ state: LayerState) throws {
        discardPrefetched()
        guard order.restore(state) else {
            throw error("the saved data position does not fit this list (\(sampleCount) images)",
                        hint: "resume with the net file and list the snapshot was trained with")
        }
        servedOrder = order
    }

    public var pictureChannels: Int { channels }

    public func sample(from image: RasterImage, into output: UnsafeMutablePointer<Float>) {
        transform.apply(image, height: imageHeight, width: imageWidth, into: output)
    }

    public var prefetchStatistics: (batches: Int, preparingSeconds: Double, waitingSeconds: Double) {
        let statistics = prefetcher.statistics
        return (statistics.fills, statistics.fillSeconds, statistics.waitSeconds)
    }
}

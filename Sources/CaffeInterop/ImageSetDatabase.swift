import CaffeProto
import Foundation
import SwiftCaffe
import SwiftProtobuf

/// Caffe's two data-set tools: `convert_imageset` (a list of images into an LMDB database of
/// Datums, which the `Data` layer reads) and `compute_image_mean` (a database's mean image,
/// for `mean_file`).
public enum ImageSetDatabase {
    /// What `convert_imageset`'s flags choose.
    public struct Options {
        /// Resize every image to this size (both or neither); 0 keeps the files' sizes.
        public var resizeHeight = 0, resizeWidth = 0
        /// Write the images in a seeded random order rather than the list's.
        public var shuffle = false
        public var seed: UInt64 = 1
        /// Read the images as gray rather than colour.
        public var gray = false
        /// Store the PNG/JPEG bytes (re-encoded as PNG when resizing) rather than the pixels.
        public var encoded = false

        public init() {}
    }

    /// Writes every image of the list `listPath` (paths relative to `rootFolder`) as a Datum
    /// under the key `%08d_<path as listed>`, in batches of 1,000 per transaction; returns the
    /// number written. The folder `databasePath` must be new or empty.
    @discardableResult
    public static func convert(list listPath: String, rootFolder: String, to databasePath: String, options: Options,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> Int {
        if (options.resizeHeight == 0) != (options.resizeWidth == 0) {
            throw SwiftCaffeError("give both --resize_height and --resize_width, or neither")
        }
        guard (0...65_536).contains(options.resizeHeight), (0...65_536).contains(options.resizeWidth) else {
            throw SwiftCaffeError("the resize to \(options.resizeWidth)×\(options.resizeHeight) is out of range", hint: "use sizes up to 65536")
        }
        if options.resizeHeight > 0 {  // a resized picture and its planes
            try MemoryBudget.require(2 * options.resizeHeight * options.resizeWidth * 3, for: "one \(options.resizeWidth)×\(options.resizeHeight) picture")
        }
        var entries = try ImageList.read(listPath, rootFolder: rootFolder, rootGiven: true, layer: nil)
        if options.shuffle {
            var rng = RandomGenerator(seed: options.seed)
            for i in stride(from: entries.count - 1, to: 0, by: -1) { entries.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        }
        let database = try LMDBDatabase(creatingAt: databasePath)
        // The list's paths come resolved and standardised; so is the root they are cut from.
        let rootPath = URL(fileURLWithPath: rootFolder).standardizedFileURL.path + "/"
        let channels = options.gray ? 1 : 3
        var batch: [(key: String, value: [UInt8])] = []
        for (index, entry) in entries.enumerated() {
            let location = FileLocation(file: listPath, line: entry.line, column: 1)
            var datum = Caffe_Datum()
            datum.label = Int32(entry.label)
            do {
                let data = try FileChecks.contents(of: entry.path, what: "the image")
                var image = try RasterImage(encoded: [UInt8](data), name: entry.path, channels: channels)
                if options.resizeHeight > 0 { image = image.resized(width: options.resizeWidth, height: options.resizeHeight) }
                if options.encoded {
                    datum.encoded = true
                    datum.data = options.resizeHeight > 0 ? Data(try image.encodedPNG()) : data
                } else {
                    (datum.channels, datum.height, datum.width) = (Int32(image.channels), Int32(image.height), Int32(image.width))
                    datum.data = Data(image.planes())  // C×H×W, BGR: what Caffe's convert_imageset stores
                }
            } catch let error as SwiftCaffeError {
                throw SwiftCaffeError(error.message, at: location, hint: error.hint)
            }
            let digits = String(index)
            // Caffe's key names the image as the list does: its path below the root folder.
            let listed = entry.path.hasPrefix(rootPath) ? String(entry.path.dropFirst(rootPath.count)) : entry.path
            let key = String(repeating: "0", count: max(0, 8 - digits.count)) + digits + "_" + listed
            batch.append((key, try datum.serializedBytes()))
            if batch.count == 1000 || index + 1 == entries.count {
                try database.write(batch)
                batch.removeAll(keepingCapacity: true)
                progress(index + 1, entries.count)
            }
        }
        return entries.count
    }

    /// The mean of every record of the database, 1×C×H×W (Caffe's `compute_image_mean`).
    /// Encoded records are decoded with their own channels; all must share one shape.
    public static func mean(of databasePath: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> Safetensors.Tensor {
        let database = try LMDBDatabase(readingAt: databasePath)
        guard database.count > 0 else { throw SwiftCaffeError("the database '\(databasePath)' holds no records") }
        let reader = DatumReader(database: database, forcedChannels: nil, layer: "")
        let first = try reader.record(0)
        let shape = (first.channels, first.height, first.width)
        var sums = [Double](repeating: 0, count: first.channels * first.height * first.width)
        for index in 0..<database.count {
            let record = try reader.record(index)
            guard (record.channels, record.height, record.width) == shape else {
                throw SwiftCaffeError("the record '\(database.key(at: index))' is \(record.channels)×\(record.height)×\(record.width), the first \(shape.0)×\(shape.1)×\(shape.2)",
                                      hint: "a mean needs records of one shape; resize when converting")
            }
            switch record.pixels {
            case .bytes(let values): for i in 0..<sums.count { sums[i] += Double(values[i]) }
            case .floats(let values):
                if let bad = values.firstIndex(where: { !$0.isFinite }) {
                    throw SwiftCaffeError("the record '\(database.key(at: index))' of '\(databasePath)' holds \(values[bad]) at position \(bad)",
                                          hint: "a mean of values that are not finite means nothing; clean the data set or leave the record out")
                }
                for i in 0..<sums.count { sums[i] += Double(values[i]) }
            }
            if (index + 1) % 1000 == 0 || index + 1 == database.count { progress(index + 1, database.count) }
        }
        return Safetensors.Tensor(shape: [1, shape.0, shape.1, shape.2], values: sums.map { Float($0 / Double(database.count)) })
    }
}

import CaffeProto
import Foundation
import SwiftCaffe
import SwiftProtobuf

/// Caffe's `Data`: `Datum` records from an LMDB database (Caffe's `convert_imageset`,
/// `swiftcaffe convert-imageset`).
///
/// `source` is the database's folder (relative to the net file; for a prototxt, to the working
/// directory, as in Caffe), `backend` is LMDB (LevelDB is refused with a message; a file that
/// leaves `backend` at Caffe's default, LEVELDB, is read when the folder holds an LMDB
/// database). A Datum holds C×H×W bytes (`data`), floats (`float_data`) or, `encoded`, a PNG
/// or JPEG file, decoded with its own channels unless `force_color`/`force_gray` (or
/// `force_encoded_color`) say otherwise, in Caffe's BGR order. Every record must have the
/// first one's shape. Tops: data (N×C×H×W) and, optionally, labels.
///
/// `batch_size` and the `DataTransform` keys (`scale`, `mean_file`, `mean_value`,
/// `crop_size`, `mirror`, `pad`, `cutout`) work as on every data layer; beyond Caffe,
/// `shuffle` and `label_names` too. Records are decoded on a background thread
/// (`RecordFeeder`). `rand_skip` and `prefetch` tune Caffe's reader and are accepted and
/// ignored: the order here is the seeded `SampleOrder`, and one batch is always prepared ahead.
public final class DataLayer: Layer, DatasetLayer, PictureSource {
    public let spec: LayerSpec
    public var params: [Blob] = []
    package static let sampleNoun = "records"

    package let keys: DatasetKeys
    let transform: DataTransform
    let sourcePath: String
    /// 1 or 3 to force encoded images to gray or colour; nil keeps each file's own.
    let forcedChannels: Int?
    private var database: LMDBDatabase?
    private var sampleShape: (channels: Int, height: Int, width: Int) = (0, 0, 0)
    private var feeder: RecordFeeder?
    package var cursor: (any DataCursor)? { feeder }

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        keys = try DatasetKeys(spec, context: context)
        transform = try DataTransform(spec, phase: context.phase, seed: context.seed)
        sourcePath = try spec.path("source")
        let backend = try spec.choice("backend", from: ["LMDB", "LEVELDB"], default: "LEVELDB")
        // Caffe's default backend is LevelDB, so a file that leaves it out is read as whatever
        // the folder holds; only a database that is there and is LevelDB is refused as such.
        let levelDBHint = "rebuild the data set as LMDB (swiftcaffe convert-imageset, or Caffe's convert_imageset --backend lmdb) and write 'backend: LMDB'"
        if backend == "LEVELDB" && spec.has("backend") {
            throw spec.error("LevelDB databases are not supported", at: spec.node("backend"), hint: levelDBHint)
        }
        if !FileManager.default.fileExists(atPath: sourcePath) {
            throw spec.error("there is no database at source '\(sourcePath)'", at: spec.node("source"),
                             hint: "make one with 'swiftcaffe convert-imageset', or check the path (in a prototxt, relative to the working directory)")
        }
        if FileManager.default.fileExists(atPath: sourcePath + "/CURRENT") && !FileManager.default.fileExists(atPath: sourcePath + "/data.mdb") {
            throw spec.error("'\(sourcePath)' is a LevelDB database, which SwiftCaffe does not read", at: spec.node("source"), hint: levelDBHint)
        }
        _ = try spec.int("rand_skip", default: 0, in: 0...Int(Int32.max))
        _ = try spec.int("prefetch", default: 4, in: 0...1024)
        let gray = try spec.bool("force_gray", default: false)
        let colour = try spec.bool("force_color", default: false) || spec.bool("force_encoded_color", default: false)
        if gray && colour { throw spec.error("both 'force_gray' and 'force_color'", hint: "keep one") }
        forcedChannels = gray ? 1 : (colour ? 3 : nil)
    }

    public var labelMaximum: Int? { nil }

    public func forward(bottom: [Blob], top: [Blob]) throws { try feeder!.forward(top: top) }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let database: LMDBDatabase
        do { database = try LMDBDatabase(readingAt: sourcePath) } catch let error as SwiftCaffeError {
            throw self.error(error.message, hint: error.hint)
        }
        guard database.count > 0 else { throw error("the database '\(sourcePath)' holds no records") }
        self.database = database
        let reader = DatumReader(database: database, forcedChannels: forcedChannels, layer: spec.description)
        let first = try reader.record(0)
        sampleShape = (first.channels, first.height, first.width)
        let shape = sampleShape
        feeder = try RecordFeeder(order: keys.order(count: database.count), transform: transform, sample: shape) { [reader] index in
            let record = try reader.record(index)
            guard (record.channels, record.height, record.width) == shape else {
                throw SwiftCaffeError("the record '\(database.key(at: index))' is \(record.channels)×\(record.height)×\(record.width), the first \(shape.channels)×\(shape.height)×\(shape.width)",
                                      layer: reader.layer, hint: "every record of a database must have one shape; resize when converting (--resize_height/--resize_width)")
            }
            return record
        }
        try top[0].reshape([batchSize] + feeder!.servedShape)
        if top.count == 2 { try top[1].reshape([batchSize]) }
    }

    public var pictureChannels: Int { sampleShape.channels == 1 ? 1 : 3 }

    public func sample(from image: RasterImage, into output: UnsafeMutablePointer<Float>) {
        transform.apply(image, height: sampleShape.height, width: sampleShape.width, into: output)
    }

}

/// Reads a Datum from the database and decodes it; what the prefetch thread uses, by value.
struct DatumReader {
    let database: LMDBDatabase
    let forcedChannels: Int?
    let layer: String

    func record(_ index: Int) throws -> DecodedRecord {
        let key = database.key(at: index)
        func damaged(_ why: String) -> SwiftCaffeError {
            SwiftCaffeError("the record '\(key)' of '\(database.path)' \(why)", layer: layer, hint: "the database is damaged, or was not written by convert_imageset")
        }
        let datum: Caffe_Datum
        do {
            datum = try Caffe_Datum(serializedBytes: try database.value(at: index))
        } catch let error as SwiftCaffeError {
            throw error
        } catch {
            throw damaged("is not a Caffe Datum (protobuf decoding failed)")
        }
        if datum.encoded {
            let native = RasterImage.nativeChannels(of: [UInt8](datum.data))
            let image: RasterImage
            do {
                image = try RasterImage(encoded: [UInt8](datum.data), name: key, channels: forcedChannels ?? native ?? 3)
            } catch let error as SwiftCaffeError {
                throw damaged("holds an image that does not decode: \(error.message)")
            }
            return DecodedRecord(pixels: .bytes(image.planes()), channels: image.channels, height: image.height, width: image.width,
                                 label: Int(datum.label))
        }
        let shape = [Int(datum.channels), Int(datum.height), Int(datum.width)]
        guard shape.allSatisfy({ $0 > 0 }), let count = checkedCount(shape) else { throw damaged("has the shape \(shape)") }
        if !datum.floatData.isEmpty {
            guard datum.floatData.count == count else { throw damaged("has \(datum.floatData.count) floats for \(shape)") }
            return DecodedRecord(pixels: .floats(datum.floatData), channels: shape[0], height: shape[1], width: shape[2], label: Int(datum.label))
        }
        guard datum.data.count == count else { throw damaged("has \(datum.data.count) bytes for \(shape)") }
        return DecodedRecord(pixels: .bytes([UInt8](datum.data)), channels: shape[0], height: shape[1], width: shape[2], label: Int(datum.label))
    }
}

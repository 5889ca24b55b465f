import SwiftCaffeCore
import SwiftCaffeData
import SwiftCaffeSpec

/// The keys every data layer over a data set reads: `batch_size`, `shuffle` and
/// `label_names`, and the seeded stream its shuffles draw from.
package struct DatasetKeys {
    package let batchSize: Int
    package let shuffle: Bool
    /// Class names by label, for confusion matrices.
    package let labelNames: [String]
    let shuffleRNG: RandomGenerator
    let shard: DataShard

    package init(_ spec: LayerSpec, context: LayerContext) throws {
        batchSize = try spec.int("batch_size", in: 1...1_000_000)
        shuffle = try spec.bool("shuffle", default: false)
        labelNames = try spec.stringList("label_names")
        shuffleRNG = context.rng("\(spec.name)/shuffle")
        shard = context.shard
    }

    /// The order to serve `count` samples in: seeded passes, reshuffled each pass if asked,
    /// this rank's slice of each batch. Sample indices are 32-bit: a layer refuses a larger
    /// data set before it gets here.
    package func order(count: Int) -> SampleOrder {
        SampleOrder(count: count, shuffle: shuffle, rng: shuffleRNG, batchSize: batchSize, shard: shard)
    }
}

/// A data layer over a data set, served `batch_size` samples per forward in a seeded order:
/// IDXData, CSVData and HDF5Data hold their samples in memory and walk a `SampleCursor`;
/// ImageData and Caffe's Data decode them as they go through a `RecordFeeder`, which
/// prepares the next batch in the background. Everything a data source and a resumable
/// layer must say follows from the keys and the cursor; a conforming layer only reads its
/// source and fills a batch.
package protocol DatasetLayer: DataSource, StatefulLayer {
    var keys: DatasetKeys { get }
    /// Where the layer stands in its data set; nil until set up.
    var cursor: (any DataCursor)? { get }
    /// What a sample is called in messages ("images", "rows", "records").
    static var sampleNoun: String { get }
}

extension DatasetLayer {
    public static var bottomCount: ClosedRange<Int> { 0...0 }
    public static var topCount: ClosedRange<Int> { 1...2 }
    public var batchSize: Int { keys.batchSize }
    public var labelNames: [String] { keys.labelNames }
    public var sampleCount: Int { cursor?.count ?? 0 }
    public var epoch: Int { cursor?.epoch ?? 0 }
    public var sampleNoun: String { Self.sampleNoun }
    public var prefetchStatistics: PrefetchStatistics? { (cursor as? RecordFeeder)?.statistics }

    public func rewind() { cursor?.rewind() }

    public func saveState() -> LayerState { cursor?.save() ?? LayerState() }

    public func restoreState(_ state: LayerState) throws {
        guard let cursor, cursor.restore(state) else {
            throw error("the saved data position does not fit this data set (\(sampleCount) \(Self.sampleNoun))",
                        hint: "resume with the net file and data the snapshot was trained with")
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}
}

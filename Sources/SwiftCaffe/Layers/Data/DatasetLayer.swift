/// The keys every data layer that holds a whole data set in memory reads: `batch_size`,
/// `shuffle` and `label_names`, and the seeded stream its shuffles draw from.
struct DatasetKeys {
    let batchSize: Int
    let shuffle: Bool
    /// Class names by label, for confusion matrices.
    let labelNames: [String]
    let shuffleRNG: RandomGenerator
    let shard: DataShard

    init(_ spec: LayerSpec, context: LayerContext) throws {
        batchSize = try spec.int("batch_size", in: 1...1_000_000)
        shuffle = try spec.bool("shuffle", default: false)
        labelNames = try spec.stringList("label_names")
        shuffleRNG = context.rng("\(spec.name)/shuffle")
        shard = context.shard
    }

    /// The order to serve `count` samples in: seeded passes, reshuffled each pass if asked,
    /// this rank's slice of each batch. Sample indices are 32-bit: a layer refuses a larger
    /// data set before it gets here.
    func order(count: Int) -> SampleOrder {
        SampleOrder(count: count, shuffle: shuffle, rng: shuffleRNG, batchSize: batchSize, shard: shard)
    }
}

/// A data layer over a data set held in memory (IDXData, CSVData): it serves its samples in
/// a `SampleOrder`, and everything a data source and a resumable layer must say follows from
/// its keys and that order. A conforming layer only loads the data and copies a batch.
protocol DatasetLayer: DataSource, StatefulLayer {
    var keys: DatasetKeys { get }
    var order: SampleOrder { get set }
    /// What a sample is called in messages ("images", "rows").
    static var sampleNoun: String { get }
}

extension DatasetLayer {
    public static var bottomCount: ClosedRange<Int> { 0...0 }
    public static var topCount: ClosedRange<Int> { 1...2 }
    public var dataSource: DataSource? { self }
    public var batchSize: Int { keys.batchSize }
    public var labelNames: [String] { keys.labelNames }
    public var sampleCount: Int { order.count }

    public func rewind() { order.rewind() }
    public var sampleNoun: String { Self.sampleNoun }

    public func saveState() -> LayerState { order.save() }

    public func restoreState(_ state: LayerState) throws {
        guard order.restore(state) else {
            throw error("the saved data position does not fit this data set (\(sampleCount) \(Self.sampleNoun))",
                        hint: "resume with the net file the snapshot was trained with")
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}
}

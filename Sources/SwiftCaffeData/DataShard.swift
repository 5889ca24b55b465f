
/// Which part of every batch a data layer serves in data-parallel training.
///
/// With `count` ranks each serving `batch_size` samples, the global batch is the next
/// `count × batch_size` samples of the one order all ranks share (same seed, same shuffles),
/// and rank r serves its r-th slice of it, as Caffe's data reader skips by solver rank. So N
/// ranks × batch B see exactly the samples that one process × batch N·B sees, batch by batch,
/// and a data layer's saved position is the same on every rank.
public struct DataShard: Sendable, Equatable {
    public var rank: Int
    public var count: Int

    /// The whole data set: one process.
    public static let whole = DataShard(rank: 0, count: 1)

    public init(rank: Int, count: Int) {
        precondition(count >= 1 && (0..<count).contains(rank), "rank \(rank) of \(count)")
        self.rank = rank
        self.count = count
    }
}

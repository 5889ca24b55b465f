import SwiftCaffeCore
import SwiftCaffeData

/// The processes that train one model together, as the trainer sees them (PyTorch's
/// `ProcessGroup`). A process training alone is a group of one (`SingleProcess`), so the
/// trainer runs the same steps either way.
///
/// Every rank holds the whole net and trains on its own slice of each global batch
/// (`DataShard`); before each update the ranks sum their gradients, so the update, and with
/// it the weights, is the same on every rank. The library knows only this protocol: threads
/// in one process (`ReplicaGroup`) and MPI (the SwiftCaffeDistributed target) implement it,
/// so the library builds and embeds without MPI, and no layer knows about it.
///
/// All calls come from one thread, in the same order on every rank (they are collectives).
/// A failure (a rank that died, a collective that timed out) is a thrown `SwiftCaffeError`.
public protocol ProcessGroup: AnyObject {
    /// This process's rank, 0 ..< `size`. Rank 0 prints, logs and writes snapshots.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// Wall-clock seconds spent waiting for other ranks so far: the communication that was
    /// not hidden behind computation.
    var waitingSeconds: Double { get }

    /// Overwrites `bytes` on every rank with rank 0's (the buffers have the same size).
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer) throws
    /// Starts summing these gradients (`diff`s) over the ranks. The trainer calls it for a
    /// layer as soon as backward has finished that layer's gradients, so the sums travel
    /// while the rest of backward computes.
    func startSumming(_ gradients: [Blob]) throws
    /// Waits until every sum started has finished; each diff then holds the sum over ranks.
    func finishSumming() throws
    /// Sums `values` elementwise over the ranks (losses, test scores, stop requests).
    func sum(_ values: UnsafeMutableBufferPointer<Double>) throws
    /// Every rank's `value`, by rank.
    func gather(_ value: UInt64) throws -> [UInt64]
}

extension ProcessGroup {
    /// Sums `values` elementwise over the ranks.
    public func sum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try sum($0) }
    }

    /// The sum of `value` over the ranks (no allocation: the trainer calls it every iteration).
    public func sum(_ value: Double) throws -> Double {
        var total = value
        try withUnsafeMutablePointer(to: &total) { try sum(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return total
    }

    /// Overwrites `bytes` on every rank with rank 0's, whatever their length elsewhere.
    public func broadcast(_ bytes: inout [UInt8]) throws {
        var count = UInt64(bytes.count)
        try withUnsafeMutableBytes(of: &count) { try broadcast($0) }
        guard let length = Int(exactly: count) else { throw SwiftCaffeError("rank 0 sent \(count) bytes, more than this process can hold") }
        if rank != 0 { bytes = [UInt8](repeating: 0, count: length) }
        try bytes.withUnsafeMutableBytes { try broadcast($0) }
    }

    /// The part of each batch this rank's data layers serve.
    public var shard: DataShard { DataShard(rank: rank, count: size) }

    /// Makes every rank's `blobs` hold rank 0's values.
    public func broadcast(_ blobs: [Blob]) throws {
        for blob in blobs where blob.count > 0 {
            try broadcast(UnsafeMutableRawBufferPointer(start: blob.data, count: blob.count * MemoryLayout<Float>.stride))
        }
    }
}

/// A process training alone: the group of one, where every collective leaves its values as
/// they are.
public final class SingleProcess: ProcessGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var waitingSeconds: Double { 0 }
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer) throws {}
    public func startSumming(_ gradients: [Blob]) throws {}
    public func finishSumming() throws {}
    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {}
    public func gather(_ value: UInt64) throws -> [UInt64] { [value] }
}

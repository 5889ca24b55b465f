import SwiftCaffeCore
import SwiftCaffeSpec

/// The order a data layer serves its samples in: passes over 0..<count, each a new seeded
/// permutation when shuffling, batches wrapping from one pass into the next (as Caffe's data
/// layers do). Its state (position, pass, permutation, generator) is what a snapshot saves.
///
/// In data-parallel training (`shard`) every rank walks the same order, serving only its slice
/// of each global batch and stepping over the others' (`DataShard`), so between batches the
/// position is the same on every rank and a snapshot from any rank count resumes on another.
package struct SampleOrder {
    package let count: Int
    let shuffle: Bool
    /// Samples per batch on this rank, and which slice of the global batch this rank serves.
    package let batchSize: Int
    let shard: DataShard
    /// How many of this batch's samples this rank has served.
    private var served = 0
    /// The serial number of the sample served last, counting over all passes (pass × count +
    /// position): data augmentation seeds that sample's random draws from it.
    package private(set) var lastDraw: UInt64 = 0
    private(set) var order: [Int32]
    private(set) var position = 0
    package private(set) var epoch = 0
    private var rng: RandomGenerator

    package init(count: Int, shuffle: Bool, rng: RandomGenerator, batchSize: Int = 1, shard: DataShard = .whole) {
        self.count = count
        self.shuffle = shuffle
        self.batchSize = batchSize
        self.shard = shard
        self.rng = rng
        order = (0..<Int32(count)).map { $0 }
        if shuffle { order.shuffle(using: &self.rng) }
    }

    /// The next sample's index for this rank, advancing (and reshuffling at the end of a pass).
    package mutating func next() -> Int {
        if served == 0 { skip(shard.rank * batchSize) }  // the lower ranks' slices
        let sample = advance()
        served += 1
        if served == batchSize {
            served = 0
            skip((shard.count - 1 - shard.rank) * batchSize)  // the higher ranks' slices
        }
        return sample
    }

    private mutating func skip(_ samples: Int) { for _ in 0..<samples { _ = advance() } }

    private mutating func advance() -> Int {
        lastDraw = UInt64(epoch) &* UInt64(count) &+ UInt64(position)
        let sample = Int(order[position])
        position += 1
        if position == count {
            position = 0
            epoch += 1
            if shuffle { order.shuffle(using: &rng) }
        }
        return sample
    }

    package mutating func rewind() {
        position = 0
        served = 0
    }

    package func save() -> LayerState {
        var state = LayerState()
        state.values = ["position": "\(position)", "epoch": "\(epoch)", "rng": rng.stateDescription, "samples": "\(count)"]
        state.arrays = ["order": order.map(Float.init)]
        return state
    }

    /// Restores a saved order; false when it does not fit this data set.
    package mutating func restore(_ state: LayerState) -> Bool {
        // Every number is a file's, so each is range-checked: an epoch near Int.max would
        // overflow at the end of the next pass.
        guard let samples = state.values["samples"].flatMap({ Int(wholeText: $0) }), samples == count, count > 0,
              let position = state.values["position"].flatMap({ Int(wholeText: $0, in: 0...(count - 1)) }),
              let epoch = state.values["epoch"].flatMap({ Int(wholeText: $0, in: 0...SolverSpec.iterationLimit) }),
              let rng = state.values["rng"].flatMap(RandomGenerator.init(stateDescription:)),
              let order = state.arrays["order"], order.count == count,
              order.allSatisfy({ Int(whole: $0, in: 0...(count - 1)) != nil }) else { return false }
        self.position = position
        self.epoch = epoch
        self.rng = rng
        self.order = order.map { Int32($0) }
        return true
    }
}

/// A data layer's place in its data set: what rewinding before a test pass, snapshots and
/// resuming act on. A layer that holds its samples in memory walks a `SampleCursor`; one that
/// decodes them as it goes has a `RecordFeeder`, which prepares batches ahead.
package protocol DataCursor: AnyObject {
    /// The samples in the data set.
    var count: Int { get }
    /// Completed passes over it.
    var epoch: Int { get }
    /// Back to the first sample of the pass.
    func rewind()
    func save() -> LayerState
    /// False when the state does not fit this data set.
    func restore(_ state: LayerState) -> Bool
}

/// The `DataCursor` of a layer whose samples are in memory: a `SampleOrder` its forward walks.
package final class SampleCursor: DataCursor {
    package private(set) var order: SampleOrder

    package init(_ order: SampleOrder) { self.order = order }

    /// The next sample's index (see `SampleOrder.next`).
    package func next() -> Int { order.next() }
    /// The serial number of the sample `next` returned last, which seeds its augmentation.
    package var lastDraw: UInt64 { order.lastDraw }
    package var count: Int { order.count }
    package var epoch: Int { order.epoch }
    package func rewind() { order.rewind() }
    package func save() -> LayerState { order.save() }
    package func restore(_ state: LayerState) -> Bool { order.restore(state) }
}

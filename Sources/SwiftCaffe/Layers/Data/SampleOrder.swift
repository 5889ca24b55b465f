/// The order a data layer serves its samples in: passes over 0..<count, each a new seeded
/// permutation when shuffling, batches wrapping from one pass into the next (as Caffe's data
/// layers do). Its state (position, pass, permutation, generator) is what a snapshot saves.
///
/// In data-parallel training (`shard`) every rank walks the same order, serving only its slice
/// of each global batch and stepping over the others' (`DataShard`), so between batches the
/// position is the same on every rank and a snapshot from any rank count resumes on another.
struct SampleOrder {
    let count: Int
    let shuffle: Bool
    /// Samples per batch on this rank, and which slice of the global batch this rank serves.
    let batchSize: Int
    let shard: DataShard
    /// How many of this batch's samples this rank has served.
    private var served = 0
    /// The serial number of the sample served last, counting over all passes (pass × count +
    /// position): data augmentation seeds that sample's random draws from it.
    private(set) var lastDraw: UInt64 = 0
    private(set) var order: [Int32]
    private(set) var position = 0
    private(set) var epoch = 0
    private var rng: RandomGenerator

    init(count: Int, shuffle: Bool, rng: RandomGenerator, batchSize: Int = 1, shard: DataShard = .whole) {
        self.count = count
        self.shuffle = shuffle
        self.batchSize = batchSize
        self.shard = shard
        self.rng = rng
        order = (0..<Int32(count)).map { $0 }
        if shuffle { order.shuffle(using: &self.rng) }
    }

    /// The next sample's index for this rank, advancing (and reshuffling at the end of a pass).
    mutating func next() -> Int {
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

    mutating func rewind() {
        position = 0
        served = 0
    }

    func save() -> LayerState {
        var state = LayerState()
        state.values = ["position": "\(position)", "epoch": "\(epoch)", "rng": rng.stateDescription, "samples": "\(count)"]
        state.arrays = ["order": order.map(Float.init)]
        return state
    }

    /// Restores a saved order; false when it does not fit this data set.
    mutating func restore(_ state: LayerState) -> Bool {
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

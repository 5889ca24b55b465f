/// The order a data layer serves its samples in: passes over 0..<count, each a new seeded
/// permutation when shuffling, batches wrapping from one pass into the next (as Caffe's data
/// layers do). Its state (position, pass, permutation, generator) is what a snapshot saves.
struct SampleOrder {
    let count: Int
    let shuffle: Bool
    private(set) var order: [Int32]
    private(set) var position = 0
    private(set) var epoch = 0
    private var rng: RandomGenerator

    init(count: Int, shuffle: Bool, rng: RandomGenerator) {
        self.count = count
        self.shuffle = shuffle
        self.rng = rng
        order = (0..<Int32(count)).map { $0 }
        if shuffle { order.shuffle(using: &self.rng) }
    }

    /// The next sample's index, advancing (and reshuffling at the end of a pass).
    mutating func next() -> Int {
        let sample = Int(order[position])
        position += 1
        if position == count {
            position = 0
            epoch += 1
            if shuffle { order.shuffle(using: &rng) }
        }
        return sample
    }

    mutating func rewind() { position = 0 }

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

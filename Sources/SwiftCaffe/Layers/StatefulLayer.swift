/// What a layer must save so that a resumed run continues exactly: a data layer's position,
/// pass number, shuffled order and generator state. Values are strings, arrays are floats
/// (exact for integers below 2²⁴); both go into the solver-state file under the layer's name.
public struct LayerState {
    public var values: [String: String] = [:]
    public var arrays: [String: [Float]] = [:]

    public init() {}
}

/// A layer with state beyond its parameters (data order, random streams).
public protocol StatefulLayer: Layer {
    func saveState() -> LayerState
    /// Throws when the state does not fit the layer (another data set, another batch size).
    func restoreState(_ state: LayerState) throws
}

extension RandomGenerator {
    /// The state as text, for solver-state files.
    public var stateDescription: String { "\(state.0) \(state.1) \(state.2) \(state.3)" }

    public init?(stateDescription text: String) {
        let words = text.split(separator: " ").compactMap { UInt64($0) }
        guard words.count == 4 else { return nil }
        self.init(seed: 0)
        state = (words[0], words[1], words[2], words[3])
    }
}

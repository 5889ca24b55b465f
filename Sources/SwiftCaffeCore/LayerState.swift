/// What a layer must save so that a resumed run continues exactly: a data layer's position,
/// pass number, shuffled order and generator state. Values are strings, arrays are floats
/// (exact for integers below 2²⁴); both go into the solver-state file under the layer's name.
public struct LayerState {
    public var values: [String: String] = [:]
    public var arrays: [String: [Float]] = [:]

    public init() {}
}

import SwiftCaffeCore

/// A layer with state beyond its parameters (data order, random streams).
public protocol StatefulLayer: Layer {
    func saveState() -> LayerState
    /// Throws when the state does not fit the layer (another data set, another batch size).
    func restoreState(_ state: LayerState) throws
}

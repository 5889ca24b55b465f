import SwiftCaffeCore
import SwiftCaffeData
import SwiftCaffeSpec

/// What a layer knows about the net it is built into.
public struct LayerContext: Sendable {
    public var phase: Phase
    /// The run's seed; a layer derives its own stream with `rng(_:)`.
    public var seed: UInt64
    /// The part of each batch the data layers serve (all of it, but in data-parallel training).
    public var shard: DataShard
    /// Scratch memory shared by the layers of one net (see `ScratchArena`).
    public var scratch: ScratchArena
    /// The net runs forward only. A layer may then keep its parameters in another form
    /// between calls (a convolution engine's layout), until the net says they changed
    /// (`ParameterCaching`).
    public var inference: Bool

    public init(phase: Phase, seed: UInt64, shard: DataShard = .whole, scratch: ScratchArena = ScratchArena(), inference: Bool = false) {
        self.phase = phase
        self.seed = seed
        self.shard = shard
        self.scratch = scratch
        self.inference = inference
    }

    /// A generator for one purpose of one layer (e.g. `rng("conv1/weights")`). It depends on the
    /// seed and the name only, never on the order layers are built in.
    public func rng(_ stream: String) -> RandomGenerator { RandomGenerator(seed: seed, stream: stream) }

    /// A parameter blob `<layer>.<role>` of `shape`, filled by `filler` from its own stream
    /// `<layer>/<role>` when the net allocates it (after checking that the net fits in memory).
    /// A shape too large to allocate is an error, not a crash.
    public func parameter(_ layer: String, _ role: String, shape: [Int], filler: FillerSpec) throws -> Blob {
        guard checkedCount(shape) != nil else {
            throw SwiftCaffeError("parameter '\(role)' of shape \(shape) is too large (over 2³¹ values)",
                                  hint: "check num_output and the sizes of the layer's inputs")
        }
        var generator = rng("\(layer)/\(role)")
        return Blob(deferred: "\(layer).\(role)", shape: shape) { blob in filler.fill(blob, using: &generator) }
    }
}

import SwiftCaffeCore
import SwiftCaffeData
import SwiftCaffeSpec

/// Dropout: in the train phase each element is kept with probability 1 − `dropout_ratio`
/// (0.5) and scaled by 1 / (1 − ratio), so the test phase, which passes values through
/// unchanged, sees the same expected value. The mask's random stream is saved in snapshots.
///
/// In data-parallel training each rank must drop other elements (one process with the
/// global batch draws a fresh mask for every sample), yet the saved stream must be the same on
/// every rank, since rank 0's snapshot resumes them all: so each pass draws one number from
/// the shared stream and seeds this rank's mask from it and the rank.
public final class DropoutLayer: Layer, StatefulLayer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var supportsInPlace: Bool { true }
    let ratio: Float
    let training: Bool
    private var rng: RandomGenerator
    /// keep or 0 per element, from the last forward. A blob, not an array: element writes into
    /// a class's array property pay an exclusivity check each, which took 10 ns per element.
    /// Deferred: a test net's Dropout, which draws no mask, takes no memory for one.
    private let mask = Blob(deferred: "")
    let shard: DataShard

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        ratio = try spec.float("dropout_ratio", default: 0.5, in: 0...0.999)
        training = context.phase == .train
        rng = context.rng("\(spec.name)/dropout")
        shard = context.shard
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        try top[0].reshape(bottom[0].shape)
        try mask.reshape(bottom[0].shape)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, count = bottom[0].count
        guard training else {
            if x != y { y.update(from: x, count: count) }
            return
        }
        let keep = 1 / (1 - ratio)
        var draws = shard.count == 1 ? rng : RandomGenerator(seed: rng.next(), stream: "rank \(shard.rank)")
        defer { if shard.count == 1 { rng = draws } }
        let mask = mask.data, ratio = ratio
        for i in 0..<count { mask[i] = draws.nextUnit() >= ratio ? keep : 0 }
        for i in 0..<count { y[i] = x[i] * mask[i] }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let dy = top[0].diff, dx = bottom[0].diff, count = top[0].count
        guard training else {
            if dx != dy { dx.update(from: dy, count: count) }
            return
        }
        let mask = mask.data
        for i in 0..<count { dx[i] = dy[i] * mask[i] }
    }

    public func saveState() -> LayerState {
        var state = LayerState()
        state.values["rng"] = rng.stateDescription
        return state
    }

    public func restoreState(_ state: LayerState) throws {
        guard let saved = state.values["rng"].flatMap(RandomGenerator.init(stateDescription:)) else {
            throw error("the saved dropout state is damaged")
        }
        rng = saved
    }

    /// The tangent is masked and scaled as the values were, by the mask of the last forward.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let dx = bottomTangent[0].data, dy = topTangent[0].data, mask = mask.data
        for i in 0..<top[0].count { dy[i] = training ? dx[i] * mask[i] : dx[i] }
    }
}

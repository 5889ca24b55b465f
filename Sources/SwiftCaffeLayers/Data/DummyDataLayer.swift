import SwiftCaffeCore
import SwiftCaffeSpec

/// Caffe's `DummyData`: tops of given shapes filled by fillers, for benchmarks, tests and nets
/// whose data is not the point (Caffe's linear-regression example).
///
/// `shape` as on Input (one for all tops, or a list of one per top), or Caffe's legacy `num`,
/// `channels`, `height`, `width` lists; `data_filler` one for all tops or one per top
/// (default: constant 0). Random fillers draw anew at every forward, as in Caffe, from a
/// stream seeded by the batch's number, so that a resumed run draws what the first would
/// have (the number is the layer's saved state).
///
/// It is a data source whose data set is one batch, so that a solver trains on it as Caffe
/// does (pycaffe's tests and benchmark nets): an epoch is one iteration.
public final class DummyDataLayer: Layer, StatefulLayer, DataSource {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 0...0 }
    public static var topCount: ClosedRange<Int> { 1...Int.max }
    let shapes: [[Int]]
    let fillers: [FillerSpec]
    let seed: UInt64
    private var batches = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        let dimension = 1...Int(Int32.max)
        if spec.has("shape") {
            let items = spec.list("shape")
            if items.allSatisfy({ $0.sequence != nil }) {
                shapes = try items.map { item in try item.sequence!.map { try SpecMapping.int($0, key: "shape", in: dimension, owner: spec) } }
            } else {
                shapes = [try spec.intList("shape", in: dimension)]
            }
        } else {
            let legacy = try ["num", "channels", "height", "width"].map { try spec.intList($0, in: dimension) }
            guard let count = legacy.map(\.count).max(), count > 0, legacy.allSatisfy({ $0.count == count || $0.count == 1 }) else {
                throw spec.missing("shape", "list of dimensions", hint: "add 'shape: [N, C, H, W]' (or num, channels, height and width, each of one length)")
            }
            shapes = (0..<count).map { index in legacy.map { $0.count == 1 ? $0[0] : $0[index] } }
        }
        let fillerNodes = spec.list("data_filler")
        fillers = try fillerNodes.isEmpty ? [FillerSpec(.constant)] : fillerNodes.map { try FillerSpec($0, key: "data_filler", owner: spec) }
        var stream = context.rng("\(spec.name)/fill")
        seed = stream.next()
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard shapes.count == 1 || shapes.count == top.count else {
            throw error("\(shapes.count) shapes for \(top.count) tops", hint: "give one shape, or one per top")
        }
        guard fillers.count == 1 || fillers.count == top.count else {
            throw error("\(fillers.count) data_fillers for \(top.count) tops", hint: "give one filler, or one per top")
        }
        for (index, blob) in top.enumerated() { try blob.reshape(shapes[shapes.count == 1 ? 0 : index]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        var generator = RandomGenerator(seed: seed ^ (UInt64(batches) &* 0x9E37_79B9_7F4A_7C15))
        for (index, blob) in top.enumerated() { fillers[fillers.count == 1 ? 0 : index].fill(blob, using: &generator) }
        batches += 1
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}

    public func saveState() -> LayerState {
        var state = LayerState()
        state.values["batches"] = String(batches)
        return state
    }

    public func restoreState(_ state: LayerState) throws {
        guard let text = state.values["batches"], let value = Int(text), value >= 0 else {
            throw error("the saved state has no batch count for this DummyData layer", hint: "resume with the net file the snapshot was trained with")
        }
        batches = value
    }
}

extension DummyDataLayer {
    public var batchSize: Int { shapes[0].first ?? 1 }
    public var sampleCount: Int { batchSize }
    public var labelMaximum: Int? { nil }
    public var labelNames: [String] { [] }
    /// Each batch is drawn anew; there is no position in a data set to go back to.
    public func rewind() {}
}

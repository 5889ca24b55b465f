import SwiftCaffeCore
import SwiftCaffeLayers
import SwiftCaffeSpec

/// A net for one phase, ready to run: a `NetPlan` given its memory. Forward and backward
/// passes, the loss, and the layers' state.
///
/// Building one plans the net (`NetPlan`), refuses a plan that does not fit in what the
/// process may still take (`MemoryBudget`) and only then allocates and fills the blobs and
/// parameters.
public final class Net {
    /// What runs, in order, and everything worked out before it could.
    public let plan: NetPlan

    public var name: String { plan.name }
    public var phase: Phase { plan.phase }
    public var layers: [any Layer] { plan.layers }
    public var bottoms: [[Blob]] { plan.bottoms }
    public var tops: [[Blob]] { plan.tops }
    public var blobs: [String: Blob] { plan.blobs }
    public var parameters: [LearnableParameter] { plan.parameters }
    public var lossTops: [(blob: Blob, weight: Float)] { plan.lossTops }
    public var outputNames: [String] { plan.outputNames }
    public var warnings: [String] { plan.warnings }
    /// When set, every layer's forward and backward is timed into it (a training monitor's
    /// per-layer times).
    public var clock: LayerClock?

    /// Plans the `options.phase` net of `spec` and allocates it.
    public convenience init(spec: NetSpec, options: NetOptions) throws {
        try self.init(plan: NetPlan(spec: spec, options: options))
    }

    /// The `phase` net of `spec`, as written (see `NetOptions` for the rest).
    public convenience init(spec: NetSpec, phase: Phase, seed: UInt64 = 1) throws {
        try self.init(spec: spec, options: NetOptions(phase: phase, seed: seed))
    }

    /// Allocates `plan` once it has checked that it fits.
    public init(plan: NetPlan) throws {
        self.plan = plan
        try plan.memory.checkFits(plan)
        for group in plan.sharing ?? [] where group.count > 1 {
            let memory = SharedMemory(count: group.map(\.count).max() ?? 0)
            for blob in group { blob.allocate(sharing: memory) }
        }
        for blob in plan.blobs.values { blob.allocate() }  // the rest (allocated ones stay as they are)
        for parameter in plan.parameters { parameter.blob.allocate() }  // folded layers' too
        for layer in plan.layers { for parameter in layer.params { parameter.allocate() } }
        if let file = plan.spec.weightsFile { try loadWeights(from: file, requireAll: false) }
    }

    /// Runs every layer forward. Throws, before a layer runs, when a bottom that holds
    /// indices holds something else (see `IndexConsumer`), and whatever a layer throws,
    /// naming it.
    public func forward() throws {
        for index in plan.layers.indices { try forwardLayer(at: index) }
    }

    /// Forward with some blobs' values replaced right after the layer that writes them has
    /// run: a picture of one's own in place of what the data layer read.
    public func forward(replacing values: [String: [Float]]) throws {
        try checkReplacements(values)
        for index in plan.layers.indices { try forwardLayer(at: index, replacing: values) }
    }

    /// One layer's forward, after checking its index bottoms, then the replacements of its tops.
    public func forwardLayer(at index: Int, replacing values: [String: [Float]] = [:]) throws {
        if !plan.indexChecks[index].isEmpty { try checkIndices(at: index) }
        let layer = plan.layers[index]
        let start = clock == nil ? 0 : LayerClock.now
        do {
            try layer.forward(bottom: plan.bottoms[index], top: plan.tops[index])
        } catch let error as SwiftCaffeError {
            throw error.inLayer(layer.spec.description, at: layer.spec.location)
        }
        clock?.addForward(index, since: start)
        guard !values.isEmpty else { return }
        for top in plan.tops[index] { if let replacement = values[top.name] { top.setData(replacement) } }
    }

    func checkReplacements(_ values: [String: [Float]]) throws {
        for (name, replacement) in values where plan.blobs[name]?.count != replacement.count {
            throw SwiftCaffeError("\(replacement.count) values for '\(name)', which holds \(plan.blobs[name]?.count ?? 0)")
        }
    }

    private func checkIndices(at index: Int) throws {
        for check in plan.indexChecks[index] {
            let blob = plan.bottoms[index][check.slot], values = blob.data
            for i in 0..<blob.count {
                let value = values[i]
                if let whole = Int(whole: value, in: Int.min...Int.max), whole == check.skip || check.range.contains(whole) { continue }
                throw plan.layers[index].error("its bottom '\(blob.name)' holds \(value) at position \(i), not a \(check.what) in \(check.range.lowerBound)...\(check.range.upperBound - 1)",
                                               hint: "\(check.what)s must be whole numbers in that range; check the data and any layer that computes '\(blob.name)'")
            }
        }
    }

    /// The weighted loss of the last forward pass, read from the loss tops.
    public var loss: Float {
        var loss: Float = 0
        for (blob, weight) in plan.lossTops {
            let values = blob.data
            var sum: Float = 0
            for i in 0..<blob.count { sum += values[i] }
            loss += weight * sum
        }
        return loss
    }

    /// Backpropagates from the losses; parameter gradients are added to their diffs.
    /// `finished` is called with each layer's index as soon as its backward has run
    /// (data-parallel training starts summing that layer's gradients over the ranks there).
    public func backward(finished: (Int) -> Void = { _ in }) {
        precondition(!plan.inferenceOnly, "backward on a net built for inference")
        seedLossDiffs()
        for index in plan.layers.indices.reversed() where plan.runsBackward[index] {
            let start = clock == nil ? 0 : LayerClock.now
            plan.layers[index].backward(topDiff: plan.tops[index], bottomDiff: plan.bottoms[index])
            clock?.addBackward(index, since: start)
            finished(index)
        }
    }

    /// Runs one layer backward if the net would (for per-layer timing); returns whether it ran.
    @discardableResult
    public func backwardLayer(at index: Int) -> Bool {
        guard plan.runsBackward[index] else { return false }
        plan.layers[index].backward(topDiff: plan.tops[index], bottomDiff: plan.bottoms[index])
        return true
    }

    /// Seeds the loss tops' diffs with their weights, as `backward()` does first.
    public func seedLossDiffs() {
        for (blob, weight) in plan.lossTops { blob.diff.update(repeating: weight, count: blob.count) }
    }

    public func zeroParameterDiffs() {
        for parameter in plan.parameters { parameter.blob.zeroDiff() }
    }

    /// Every stateful layer's state (data positions, shuffles, random streams), so that a
    /// second pass can see the same batch and the same dropout masks as a first.
    public func layerStates() -> [LayerState] { plan.layers.compactMap { ($0 as? any StatefulLayer)?.saveState() } }

    /// Puts back what `layerStates()` returned.
    public func restoreLayerStates(_ states: [LayerState]) throws {
        for (layer, state) in zip(plan.layers.compactMap { $0 as? any StatefulLayer }, states) { try layer.restoreState(state) }
    }

    /// The data layers (those that define an epoch).
    public var dataSources: [any DataSource] { plan.dataSources }

    /// The scalar outputs of the last forward pass (e.g. `loss`, `accuracy`), in execution order.
    public var scalarOutputs: [(name: String, value: Float)] {
        plan.outputNames.compactMap { name in
            guard let blob = plan.blobs[name], blob.count == 1 else { return nil }
            return (name, blob.data[0])
        }
    }
}

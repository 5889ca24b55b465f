/// A learnable parameter with the solver settings it was declared with.
public struct LearnableParameter {
    /// The layer that owns it (the first one, when several share it by name).
    public var layer: String
    /// Its position in the layer's `params`, Caffe's blob order.
    public var index: Int
    public var blob: Blob
    public var lrMult: Float
    public var decayMult: Float

    public init(layer: String, index: Int, blob: Blob, lrMult: Float, decayMult: Float) {
        self.layer = layer
        self.index = index
        self.blob = blob
        self.lrMult = lrMult
        self.decayMult = decayMult
    }

    /// `<layer>.<index>`, the name it has in weight files and solver states.
    public var name: String { "\(layer).\(index)" }
}

/// A net for one phase: layers in execution order, their blobs, forward and backward passes.
///
/// Building one parses nothing; it takes a `NetSpec`, keeps the layers of its phase, schedules
/// them (`NetSchedule`), creates the blobs, sets every layer up in order and decides which
/// blobs need gradients, so that backward skips what cannot affect the loss. Setting up only
/// shapes the blobs; the net then adds up the memory they need (`memoryPlan`), refuses a net
/// that does not fit (`MemoryBudget`) and only then allocates and fills them.
public final class Net {
    public let name: String
    public let phase: Phase
    public private(set) var layers: [any Layer] = []
    public private(set) var bottoms: [[Blob]] = []
    public private(set) var tops: [[Blob]] = []
    public private(set) var blobs: [String: Blob] = [:]
    public private(set) var parameters: [LearnableParameter] = []
    /// Tops that count towards the loss, with their weights.
    public private(set) var lossTops: [(blob: Blob, weight: Float)] = []
    /// Whether backward runs for each layer.
    private var runsBackward: [Bool] = []
    /// The index bottoms each layer's forward needs checked (empty for most layers).
    private var indexChecks: [[IndexBottom]] = []
    /// Blob names no layer reads: the net's outputs (loss, accuracy, ...), in execution order.
    public private(set) var outputNames: [String] = []
    /// What the blobs take once allocated.
    public private(set) var memoryPlan = MemoryPlan()
    /// Set for a net built for `.inference`: backward would be wrong.
    private(set) var inferenceOnly = false
    /// The layers `foldInPlaceLayers` took out of the schedule, each with the layer that now
    /// does its work (a Split's names the blob its readers read instead).
    public private(set) var foldedLayers: [(layer: any Layer, into: String)] = []
    /// What was folded, as `(layer, into)` names (for `time` to say so).
    public var folded: [(layer: String, into: String)] { foldedLayers.map { ($0.layer.name, $0.into) } }
    /// Things that are allowed but rarely meant (a batch larger than its data set), for the
    /// command line to show; the library never prints.
    public private(set) var warnings: [String] = []

    /// Builds the `phase` net of `spec`. With `sharingParametersWith`, layers of the same name
    /// use the other net's parameter blobs (the test net shares the train net's weights).
    /// With `allocating: false` the blobs keep their shapes but get no memory, which is all
    /// `summary` and `draw` need. Blobs named in `inputGradients` (a data layer's images, say)
    /// get gradients from backward as if something upstream learned: for saliency, and for
    /// checking forward mode along input directions. `shard` is the part of each batch its data
    /// layers serve in data-parallel training.
    /// `purpose` says how far the schedule may be rewritten for speed (`NetPurpose`): for
    /// training or inference, in-place layers are folded into the layers before them before
    /// any memory is taken (`foldInPlaceLayers`; what was folded is in `foldedLayers`). For
    /// inference, blobs also take turns in shared memory (`BlobSharing`): only the outputs,
    /// inputs, scores and labels, and the blobs named in `reading`, hold their values after
    /// forward.
    public init(spec: NetSpec, phase: Phase, seed: UInt64 = 1, sharingParametersWith other: Net? = nil, allocating: Bool = true,
                inputGradients: Set<String> = [], shard: DataShard = .whole, purpose: NetPurpose = .asWritten,
                reading: Set<String> = []) throws {
        name = spec.name
        self.phase = phase
        let specs = spec.layers.filter { $0.phase == nil || $0.phase == phase }
        guard !specs.isEmpty else {
            throw SwiftCaffeError("the net has no layers in the \(phase) phase", at: spec.layers.first?.location)
        }
        let schedule = try NetSchedule.schedule(specs)
        let context = LayerContext(phase: phase, seed: seed, shard: shard)
        var namedParameters: [String: (blob: Blob, owner: String)] = [:]

        for step in schedule {
            let layer = try LayerRegistry.make(step.spec, context: context)
            try step.spec.rejectUnknownKeys()
            try checkCounts(layer, step)
            layers.append(layer)
            bottoms.append(step.bottoms.map { blobs[$0]! })
            tops.append(step.tops.map { name in
                if let existing = blobs[name] { return existing }  // in place
                let blob = Blob(deferred: name)
                blobs[name] = blob
                return blob
            })
            do {
                try layer.setUp(bottom: bottoms.last!, top: tops.last!)
            } catch let error as SwiftCaffeError {
                throw error.inLayer(step.spec.description, at: step.spec.location)
            }
            try shareNamedParameters(of: layer, registry: &namedParameters)
            if let other { try shareParameters(of: layer, with: other) }
        }
        indexChecks = layers.indices.map { index in
            ((layers[index] as? any IndexConsumer)?.indexBottoms ?? []).filter { $0.slot < bottoms[index].count }
        }
        try checkLabels(schedule)
        try collectLosses(schedule)
        decideGradients(inputs: inputGradients)
        collectParameters()
        let read = Set(schedule.flatMap(\.bottoms))
        var outputs: [String] = []
        for step in schedule { for top in step.tops where !read.contains(top) && !outputs.contains(top) { outputs.append(top) } }
        outputNames = outputs
        for layer in layers {
            guard let data = layer.dataSource, data.batchSize > data.sampleCount else { continue }
            warnings.append("\(layer.spec.location): warning: \(layer.spec.description): batch_size \(data.batchSize) is larger than its \(data.sampleCount) samples; "
                            + "each batch wraps around the data set (as in Caffe) and holds some samples twice")
        }
        foldInPlaceLayers(for: purpose)
        let sharing = purpose == .inference ? BlobSharing.groups(self, keeping: reading) : nil
        memoryPlan = MemoryPlan(self, phase: phase, sharing: sharing)
        if allocating {
            try memoryPlan.checkFits(self)
            for group in sharing ?? [] where group.count > 1 {
                let memory = SharedMemory(count: group.map(\.count).max() ?? 0)
                for blob in group { blob.allocate(sharing: memory) }
            }
            for blob in blobs.values { blob.allocate() }  // the rest (allocated ones stay as they are)
            for parameter in parameters { parameter.blob.allocate() }  // folded layers' too
            for layer in layers { for parameter in layer.params { parameter.allocate() } }
        }
    }

    private func checkCounts(_ layer: any Layer, _ step: ScheduledLayer) throws {
        let type = Swift.type(of: layer)
        func describe(_ range: ClosedRange<Int>) -> String {
            range.lowerBound == range.upperBound ? "\(range.lowerBound)" : range.upperBound == Int.max ? "at least \(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
        }
        if !type.bottomCount.contains(step.bottoms.count) {
            throw layer.error("takes \(describe(type.bottomCount)) bottom(s), given \(step.bottoms.count)")
        }
        if !type.topCount.contains(step.tops.count) {
            throw layer.error("produces \(describe(type.topCount)) top(s), given \(step.tops.count)")
        }
    }

    /// Caffe's weight sharing: parameters given the same `param: [{name: ...}]` are one blob,
    /// so every layer using it adds its gradient into the one diff.
    private func shareNamedParameters(of layer: any Layer, registry: inout [String: (blob: Blob, owner: String)]) throws {
        for index in layer.params.indices {
            guard let shared = layer.spec.param(index).name else { continue }
            if let (blob, owner) = registry[shared] {
                guard blob.shape == layer.params[index].shape else {
                    throw layer.error("shared parameter '\(shared)' is \(layer.params[index].shapeDescription) here but \(blob.shapeDescription) in layer '\(owner)'",
                                      hint: "layers sharing a parameter need parameters of the same shape")
                }
                layer.params[index] = blob
            } else {
                registry[shared] = (layer.params[index], layer.name)
            }
        }
    }

    private func shareParameters(of layer: any Layer, with other: Net) throws {
        guard !layer.params.isEmpty, let source = other.layer(named: layer.name) else { return }
        guard source.params.count == layer.params.count,
              zip(source.params, layer.params).allSatisfy({ $0.shape == $1.shape }) else {
            throw layer.error("its parameters in the \(phase) phase (\(layer.params.map(\.shapeDescription))) differ from the \(other.phase) phase's (\(source.params.map(\.shapeDescription)))",
                              hint: "both phases must build this layer from inputs of the same shape")
        }
        layer.params = source.params
    }

    /// A data set's labels must index the classes of every loss or accuracy layer they feed.
    private func checkLabels(_ schedule: [ScheduledLayer]) throws {
        var producer: [String: Int] = [:]
        for (index, step) in schedule.enumerated() {
            for top in step.tops where producer[top] == nil { producer[top] = index }
        }
        func source(of blob: String) -> (any Layer)? {
            guard let index = producer[blob] else { return nil }
            let layer = layers[index]
            return layer is SplitLayer ? source(of: schedule[index].bottoms[0]) : layer
        }
        for (index, layer) in layers.enumerated() {
            guard let consumer = layer as? any LabelConsumer, schedule[index].bottoms.count > 1,
                  let data = source(of: schedule[index].bottoms[1])?.dataSource, let maximum = data.labelMaximum,
                  maximum >= consumer.classCount else { continue }
            throw layer.error("the labels go up to \(maximum), but its scores '\(schedule[index].bottoms[0])' have only \(consumer.classCount) classes",
                              hint: "set num_output of the layer that produces the scores to at least \(maximum + 1)")
        }
    }

    private func collectLosses(_ schedule: [ScheduledLayer]) throws {
        let read = Set(schedule.flatMap(\.bottoms))
        for (index, layer) in layers.enumerated() {
            let type = Swift.type(of: layer)
            let weights = layer.spec.lossWeights
            if let weights, weights.count > tops[index].count {
                throw layer.error("\(weights.count) loss_weight values for \(tops[index].count) top(s)")
            }
            for (slot, top) in tops[index].enumerated() {
                let weight = weights.map { slot < $0.count ? $0[slot] : 0 } ?? (type.isLoss && slot == 0 ? 1 : 0)
                guard weight != 0 else { continue }
                if read.contains(top.name) {
                    throw layer.error("its top '\(top.name)' has a loss weight and also feeds other layers",
                                      hint: "a loss top must be an output of the net")
                }
                lossTops.append((top, weight))
            }
        }
    }

    /// A blob needs a gradient when something upstream learns; a layer runs backward when it
    /// has something to compute (a parameter or such a bottom) and its tops reach a loss.
    private func decideGradients(inputs: Set<String>) {
        for (index, layer) in layers.enumerated() {
            for top in tops[index] where inputs.contains(top.name) { top.needsGradient = true }
            let learns = layer.params.indices.contains { layer.isLearnable(parameter: $0) && layer.spec.param($0).lrMult > 0 }
            let upstream = bottoms[index].contains { $0.needsGradient }
            if learns || upstream { for top in tops[index] { top.needsGradient = true } }
        }
        var reachesLoss = Set(lossTops.map { ObjectIdentifier($0.blob) })
        runsBackward = [Bool](repeating: false, count: layers.count)
        for index in layers.indices.reversed() {
            guard tops[index].contains(where: { reachesLoss.contains(ObjectIdentifier($0)) }) else { continue }
            let layer = layers[index]
            runsBackward[index] = !layer.params.isEmpty || bottoms[index].contains { $0.needsGradient }
            for bottom in bottoms[index] { reachesLoss.insert(ObjectIdentifier(bottom)) }
        }
    }

    private func collectParameters() {
        var seen: Set<ObjectIdentifier> = []
        for layer in layers {
            for (index, blob) in layer.params.enumerated() where seen.insert(ObjectIdentifier(blob)).inserted {
                let settings = layer.spec.param(index)
                parameters.append(LearnableParameter(layer: layer.name, index: index, blob: blob,
                                                     lrMult: layer.isLearnable(parameter: index) ? settings.lrMult : 0,
                                                     decayMult: settings.decayMult))
            }
        }
    }

    /// Runs every layer forward and returns the weighted loss. Throws, before the layer runs,
    /// when a bottom that holds indices holds something else (see `IndexConsumer`).
    @discardableResult
    public func forward() throws -> Float {
        for index in layers.indices { try forwardLayerChecked(at: index) }
        return currentLoss
    }

    /// Forward with some blobs' values replaced right after the layer that writes them has
    /// run: a picture of one's own in place of what the data layer read.
    @discardableResult
    public func forward(replacing values: [String: [Float]]) throws -> Float {
        try checkReplacements(values)
        for index in layers.indices { try forwardLayerChecked(at: index, replacing: values) }
        return currentLoss
    }

    /// One layer's forward, after checking its index bottoms, then the replacements of its tops.
    func forwardLayerChecked(at index: Int, replacing values: [String: [Float]] = [:]) throws {
        if !indexChecks[index].isEmpty { try checkIndices(at: index) }
        _ = layers[index].forward(bottom: bottoms[index], top: tops[index])
        if let failing = layers[index] as? any ForwardFailing, let error = failing.takeForwardError() {
            throw error.inLayer(layers[index].spec.description, at: layers[index].spec.location)
        }
        for top in tops[index] { if let replacement = values[top.name] { top.setData(replacement) } }
    }

    func checkReplacements(_ values: [String: [Float]]) throws {
        for (name, replacement) in values where blobs[name]?.count != replacement.count {
            throw SwiftCaffeError("\(replacement.count) values for '\(name)', which holds \(blobs[name]?.count ?? 0)")
        }
    }

    /// Every stateful layer's state (data positions, shuffles, random streams), so that a
    /// second pass can see the same batch and the same dropout masks as a first.
    public func layerStates() -> [LayerState] { layers.compactMap { ($0 as? any StatefulLayer)?.saveState() } }

    /// Puts back what `layerStates()` returned.
    public func restoreLayerStates(_ states: [LayerState]) throws {
        for (layer, state) in zip(layers.compactMap { $0 as? any StatefulLayer }, states) { try layer.restoreState(state) }
    }

    private func checkIndices(at index: Int) throws {
        for check in indexChecks[index] {
            let blob = bottoms[index][check.slot], values = blob.data
            for i in 0..<blob.count {
                let value = values[i]
                if let whole = Int(whole: value, in: Int.min...Int.max), whole == check.skip || check.range.contains(whole) { continue }
                throw layers[index].error("its bottom '\(blob.name)' holds \(value) at position \(i), not a \(check.what) in \(check.range.lowerBound)...\(check.range.upperBound - 1)",
                                          hint: "\(check.what)s must be whole numbers in that range; check the data and any layer that computes '\(blob.name)'")
            }
        }
    }

    /// The weighted loss of the last forward pass.
    public var currentLoss: Float {
        var loss: Float = 0
        for (blob, weight) in lossTops {
            var sum: Float = 0
            for i in 0..<blob.count { sum += blob.data[i] }
            loss += weight * sum
        }
        return loss
    }

    /// Backpropagates from the losses; parameter gradients are added to their diffs.
    /// Backward over the whole net. `finished` is called with each layer's index as soon as
    /// its backward has run (data-parallel training starts summing that layer's gradients over
    /// the ranks there).
    public func backward(finished: (Int) -> Void = { _ in }) {
        precondition(!inferenceOnly, "backward on a net built for inference")
        seedLossDiffs()
        for index in layers.indices.reversed() where runsBackward[index] {
            layers[index].backward(topDiff: tops[index], bottomDiff: bottoms[index])
            finished(index)
        }
    }

    /// Makes every layer that reads one of `copies` read `source` instead, and forgets the
    /// copies (`foldInPlaceLayers`).
    func rewireReaders(of copies: [Blob], to source: Blob) {
        for reader in bottoms.indices {
            bottoms[reader] = bottoms[reader].map { blob in copies.contains { $0 === blob } ? source : blob }
        }
        for copy in copies { blobs[copy.name] = nil }
    }

    func markInferenceOnly() { inferenceOnly = true }

    /// Moves the layer at `index` out of the schedule into `foldedLayers` (`foldInPlaceLayers`).
    func removeLayer(at index: Int, foldedInto host: String) {
        foldedLayers.append((layers[index], host))
        layers.remove(at: index)
        bottoms.remove(at: index)
        tops.remove(at: index)
        runsBackward.remove(at: index)
        indexChecks.remove(at: index)
    }

    /// Runs one layer forward (for per-layer timing); returns its loss contribution before weighting.
    @discardableResult
    public func forwardLayer(at index: Int) -> Float {
        layers[index].forward(bottom: bottoms[index], top: tops[index])
    }

    /// Runs one layer backward if the net would (for per-layer timing); returns whether it ran.
    @discardableResult
    public func backwardLayer(at index: Int) -> Bool {
        guard runsBackward[index] else { return false }
        layers[index].backward(topDiff: tops[index], bottomDiff: bottoms[index])
        return true
    }

    /// Whether backward runs for the layer at `index` (it learns or passes a gradient on, and reaches a loss).
    public func runsBackward(at index: Int) -> Bool { runsBackward[index] }

    /// Seeds the loss tops' diffs with their weights, as `backward()` does first.
    public func seedLossDiffs() {
        for (blob, weight) in lossTops { blob.diff.update(repeating: weight, count: blob.count) }
    }

    public func zeroParameterDiffs() {
        for parameter in parameters { parameter.blob.zeroDiff() }
    }

    /// The layer of that name, in the schedule or folded into another.
    public func layer(named name: String) -> (any Layer)? {
        layers.first { $0.name == name } ?? foldedLayers.first { $0.layer.name == name }?.layer
    }

    /// The layer at `index` and the layers folded into it: whose work it does.
    public func layersDone(byLayerAt index: Int) -> [any Layer] {
        [layers[index]] + foldedLayers.filter { $0.into == layers[index].name }.map(\.layer)
    }

    /// The parameters whose gradients the backward of the layer at `index` adds to: its own
    /// and those of the layers folded into it.
    public func parametersLearned(byLayerAt index: Int) -> [Blob] { layersDone(byLayerAt: index).flatMap(\.params) }

    /// The blob the file names for `blob`: a blob read by several layers reaches each through
    /// an implicit Split, whose tops are copies of it.
    public func unsplit(_ blob: Blob) -> Blob {
        guard let producer = tops.firstIndex(where: { $0.contains { $0 === blob } }), layers[producer] is SplitLayer else { return blob }
        return bottoms[producer][0]
    }

    /// The layer that writes `blob` last (its creator, or the last layer working on it in place).
    public func producer(of blob: Blob) -> (any Layer)? {
        tops.indices.last { tops[$0].contains { $0 === blob } }.map { layers[$0] }
    }

    /// The data layers (those that define an epoch).
    public var dataSources: [DataSource] { layers.compactMap(\.dataSource) }

    /// The scalar outputs of the last forward pass (e.g. `loss`, `accuracy`), in execution order.
    public var scalarOutputs: [(name: String, value: Float)] {
        outputNames.compactMap { name in
            guard let blob = blobs[name], blob.count == 1 else { return nil }
            return (name, blob.data[0])
        }
    }
}

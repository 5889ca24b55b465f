import SwiftCaffeCore
import SwiftCaffeLayers
import SwiftCaffeSpec

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

/// A net for one phase before it runs: what `Net` will execute, worked out without taking
/// any memory.
///
/// Building one keeps the layers of the phase, schedules them (`NetSchedule`), creates every
/// blob with a shape but no memory, sets every layer up in order (parameters deferred too),
/// checks labels against classes, collects the losses, decides which blobs need gradients
/// and which layers run backward. Then the passes its purpose allows rewrite it: in-place
/// layers folded into the layers before them (`InPlaceFolding`), blobs taking turns in
/// shared memory (`BlobSharing`). Last, `memory` adds up what it will take. `summary` and
/// `draw` read a plan; `Net(plan:)` checks it fits and allocates it.
///
/// The layer-by-layer facts are parallel arrays, indexed by position in execution order.
public struct NetPlan {
    public let name: String
    public let phase: Phase
    /// What it was planned from (a twin of the net can be planned again from these).
    public let spec: NetSpec
    public let options: NetOptions
    public private(set) var layers: [any Layer] = []
    public private(set) var bottoms: [[Blob]] = []
    public private(set) var tops: [[Blob]] = []
    /// Whether backward runs for each layer: it learns or passes a gradient on, and reaches a loss.
    public private(set) var runsBackward: [Bool] = []
    /// The index bottoms each layer's forward needs checked (empty for most layers).
    private(set) var indexChecks: [[IndexBottom]] = []
    public private(set) var blobs: [String: Blob] = [:]
    public private(set) var parameters: [LearnableParameter] = []
    /// Tops that count towards the loss, with their weights.
    public private(set) var lossTops: [(blob: Blob, weight: Float)] = []
    /// Blob names no layer reads: the net's outputs (loss, accuracy, ...), in execution order.
    public private(set) var outputNames: [String] = []
    /// The layers `InPlaceFolding` took out of the schedule, each with the layer that now does
    /// its work (a Split's names the blob its readers read instead).
    public private(set) var folded: [(layer: any Layer, into: String)] = []
    /// The groups of blobs that take turns in one buffer (inference only; nil otherwise).
    public private(set) var sharing: [[Blob]]?
    /// What the blobs take once allocated.
    public private(set) var memory = MemoryPlan()
    /// Set for a plan built for `.inference`: backward would be wrong.
    public private(set) var inferenceOnly = false
    /// Things that are allowed but rarely meant (a batch larger than its data set), for the
    /// command line to show; the library never prints.
    public private(set) var warnings: [String] = []

    /// Plans the `options.phase` net of `spec`.
    public init(spec: NetSpec, options: NetOptions) throws {
        name = spec.name
        phase = options.phase
        self.spec = spec
        self.options = options
        let specs = spec.layers.filter { $0.phase == nil || $0.phase == options.phase }
        guard !specs.isEmpty else {
            throw SwiftCaffeError("the net has no layers in the \(options.phase) phase", at: spec.layers.first?.location)
        }
        let schedule = try NetSchedule.schedule(specs, elsewhere: spec.layers.filter { $0.phase != nil && $0.phase != options.phase })
        try setUpLayers(schedule, options: options)
        try checkLabels(schedule)
        try collectLosses(schedule)
        decideGradients(inputs: options.inputGradients)
        collectParameters()
        collectOutputs(schedule)
        warnAboutLargeBatches()
        // The passes, before any memory is taken: the blobs they remove never get any.
        InPlaceFolding.fold(&self, for: options.purpose)
        if options.purpose == .inference {
            inferenceOnly = true
            ResidualFolding.fold(&self, keeping: options.keeping)
            sharing = BlobSharing.groups(self, keeping: options.keeping)
            ChannelsLastLayout.assign(self, keeping: options.keeping)
        }
        memory = MemoryPlan(self)
    }

    /// Creates each layer, its blobs (deferred) and sets it up, in execution order. Parameters
    /// shared by name become one blob; with `sharingParametersWith`, the other net's.
    private mutating func setUpLayers(_ schedule: [ScheduledLayer], options: NetOptions) throws {
        let context = LayerContext(phase: options.phase, seed: options.seed, shard: options.shard, inference: options.purpose == .inference)
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
            if let other = options.sharingParametersWith { try shareParameters(of: layer, with: other) }
        }
        indexChecks = layers.indices.map { index in
            ((layers[index] as? any IndexConsumer)?.indexBottoms ?? []).filter { $0.slot < bottoms[index].count }
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
        guard !layer.params.isEmpty, let source = other.plan.layer(named: layer.name) else { return }
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
                  let data = source(of: schedule[index].bottoms[1]) as? any DataSource, let maximum = data.labelMaximum,
                  maximum >= consumer.classCount else { continue }
            throw layer.error("the labels go up to \(maximum), but its scores '\(schedule[index].bottoms[0])' have only \(consumer.classCount) classes",
                              hint: "set num_output of the layer that produces the scores to at least \(maximum + 1)")
        }
    }

    private mutating func collectLosses(_ schedule: [ScheduledLayer]) throws {
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
    private mutating func decideGradients(inputs: Set<String>) {
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

    private mutating func collectParameters() {
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

    /// The tops no layer reads, in order. A layer working in place (a ReLU on the last blob)
    /// reads what it writes, which leaves the blob an output: reading it must not count.
    private mutating func collectOutputs(_ schedule: [ScheduledLayer]) {
        let read = Set(schedule.flatMap { step in step.bottoms.filter { !step.tops.contains($0) } })
        var seen: Set<String> = []
        for step in schedule { for top in step.tops where !read.contains(top) && seen.insert(top).inserted { outputNames.append(top) } }
    }

    private mutating func warnAboutLargeBatches() {
        for case let data as any DataSource in layers where data.batchSize > data.sampleCount {
            warnings.append("\(data.spec.location): warning: \(data.spec.description): batch_size \(data.batchSize) is larger than its \(data.sampleCount) samples; "
                            + "each batch wraps around the data set (as in Caffe) and holds some samples twice")
        }
    }

    /// Moves the layer at `index` out of the schedule into `folded` (`InPlaceFolding`).
    mutating func removeLayer(at index: Int, foldedInto host: String) {
        folded.append((layers[index], host))
        layers.remove(at: index)
        bottoms.remove(at: index)
        tops.remove(at: index)
        runsBackward.remove(at: index)
        indexChecks.remove(at: index)
    }

    /// Makes the layer at `index` write `target` in place of its only top, which it forgets
    /// (`ResidualFolding`: a convolution adding into a shortcut's blob).
    mutating func redirectTop(of index: Int, to target: Blob) {
        blobs[tops[index][0].name] = nil
        tops[index] = [target]
    }

    /// Makes every layer that reads one of `copies` read `source` instead, and forgets the
    /// copies (`InPlaceFolding`, dropping a Split).
    mutating func rewireReaders(of copies: [Blob], to source: Blob) {
        let replaced = Set(copies.map(ObjectIdentifier.init))
        for reader in bottoms.indices where bottoms[reader].contains(where: { replaced.contains(ObjectIdentifier($0)) }) {
            bottoms[reader] = bottoms[reader].map { replaced.contains(ObjectIdentifier($0)) ? source : $0 }
        }
        for copy in copies { blobs[copy.name] = nil }
    }
}

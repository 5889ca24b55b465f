import SwiftCaffeCore
import SwiftCaffeLayers
import SwiftCaffeSpec

/// `swiftcaffe gradcheck`: every layer's backward (or one layer's) checked against finite
/// differences on the net's own shapes, with a small batch.
///
/// The net is built with its data layers' `batch_size` set to `batch` (or, without data
/// layers, each bottom cut to its first `batch` entries) and run forward once, so each layer's
/// bottoms have their real shapes and data. A fresh copy of each layer that runs backward is
/// then set up on them, with the net's parameter values; bottoms that need a gradient get
/// random values of magnitude 0.05 to 1 and random sign (real activations hold exact ties and
/// zeros, the kinks of max pooling and ReLU; keeping away from 0 keeps a step of 0.01 off the
/// usual kink), the rest (images, labels) keep their real values. A layer with forward mode
/// (`TangentLayer`) also gets the adjoint test (`AdjointCheck`) on the same copy.
public enum NetGradientCheck {
    public struct Report {
        public var layer: String
        public var type: String
        public var results: [GradientChecker.Result]
        /// nil: the layer has no forward mode (reported, not failed).
        public var adjoint: AdjointCheck.Result?
        public var passed: Bool { results.allSatisfy(\.passed) && (adjoint?.passed ?? true) }
    }

    public static func run(_ spec: NetSpec, phase: Phase = .train, layer only: String? = nil, batch: Int = 2,
                           checker: GradientChecker = GradientChecker(), seed: UInt64 = 1) throws -> [Report] {
        // A small batch: the data layers' batch_size where they have one (then every blob has
        // its own batch axis, the second for time-major sequences), else the first axis cut.
        let isBatched: (LayerSpec) -> Bool = { $0.bottoms.isEmpty && $0.writtenKeys.contains("batch_size") }
        let setsBatch = spec.layers.contains(where: isBatched)
        let spec = setsBatch ? try spec.setting("batch_size", to: "\(batch)", inLayers: isBatched) : spec
        let net = try Net(spec: spec, phase: phase, seed: seed)
        if let only, net.plan.layer(named: only) == nil {
            throw SwiftCaffeError("no layer named '\(only)' in the \(phase) net",
                                  hint: nearest(only, in: net.layers.map(\.name)).map { "did you mean '\($0)'?" })
        }
        try net.forward()
        var rng = RandomGenerator(seed: seed, stream: "gradcheck")
        var reports: [Report] = []
        for (index, original) in net.layers.enumerated() {
            if let only { guard original.name == only else { continue } }
            // A Split only sums; a StopGradient cuts the gradient on purpose.
            guard !(original is SplitLayer || original is StopGradientLayer), net.plan.runsBackward[index] || only != nil, !net.bottoms[index].isEmpty else { continue }
            let bottoms = net.bottoms[index].map { blob -> Blob in
                let small = Blob(name: blob.name, shape: setsBatch || blob.shape.isEmpty ? blob.shape : [min(batch, blob.shape[0])] + blob.shape.dropFirst())
                small.needsGradient = blob.needsGradient
                for i in 0..<small.count {
                    small.data[i] = blob.needsGradient ? rng.uniform(0.05, 1) * (rng.next() & 1 == 0 ? 1 : -1) : blob.data[i]
                }
                return small
            }
            let layer = try LayerRegistry.make(original.spec, context: LayerContext(phase: phase, seed: seed))
            let inPlace = net.tops[index].map { top in net.bottoms[index].firstIndex { $0 === top } }
            let tops = inPlace.enumerated().map { slot, position in position.map { bottoms[$0] } ?? Blob(name: net.tops[index][slot].name) }
            try layer.setUp(bottom: bottoms, top: tops)
            for (mine, theirs) in zip(layer.params, original.params) where mine.shape == theirs.shape {
                mine.setData(theirs.dataArray)
            }
            let results = try checker.check(layer, bottom: bottoms, top: tops)
            let adjoint = try (layer as? any TangentLayer).map { try AdjointCheck().check($0, bottom: bottoms, top: tops) }
            reports.append(Report(layer: original.name, type: original.spec.type, results: results, adjoint: adjoint))
        }
        return reports
    }

    /// The adjoint test of the whole net, on its own batch, along its parameters and its data
    /// (every top of a layer without bottoms that no layer reads as indices, such as labels).
    /// Without a result when a layer has no forward mode: `missing` names it.
    public static func wholeNet(_ spec: NetSpec, phase: Phase = .train, seed: UInt64 = 1) throws
        -> (result: AdjointCheck.Result?, inputs: [String], missing: (any Layer)?) {
        let probe = try NetPlan(spec: spec, options: NetOptions(phase: phase, seed: seed))
        if let missing = probe.firstLayerWithoutForwardMode { return (nil, [], missing) }
        let labels = Set(probe.layers.indices.flatMap { index in
            ((probe.layers[index] as? any IndexConsumer)?.indexBottoms ?? []).compactMap { probe.bottoms[index][$0.slot].name }
        })
        let inputs = probe.layers.indices.filter { probe.bottoms[$0].isEmpty }.flatMap { probe.tops[$0].map(\.name) }.filter { !labels.contains($0) }
        let net = try Net(spec: spec, options: NetOptions(phase: phase, seed: seed, inputGradients: Set(inputs)))
        return (try AdjointCheck().check(net: net, inputs: inputs), inputs, nil)
    }
}

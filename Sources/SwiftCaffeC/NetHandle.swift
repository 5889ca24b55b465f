import CaffeInterop
import Foundation
import ONNXInterop
import SwiftCaffe

/// What an `sc_net *` points at: a net, and the means to build it again when an input
/// changes shape or, for an inference net, when the caller reads a blob its plan let go of.
/// A net a solver hands out is the solver's own, shared, and cannot be rebuilt.
final class NetHandle {
    /// Builds the net again from the old one (whose parameters it shares), with new input
    /// shapes and the blobs an inference net must keep.
    typealias Rebuild = (_ old: Net, _ shapes: [String: [Int]], _ keeping: Set<String>) throws -> Net

    /// The net; replacing it (a reshape, a blob kept) counts a generation. Pointers handed out
    /// point into the net of their generation, which `sc_net_hold` keeps alive for them.
    private(set) var net: Net { didSet { generation += 1 } }
    private(set) var generation: Int64 = 0
    /// Nil for a solver's net.
    private let rebuild: Rebuild?
    private var structure: UnsafeMutablePointer<CChar>?
    /// The blobs the caller has read from an inference net, which its plan must keep.
    private var keeping: Set<String> = []
    /// The last forward's layers and the layers' state before it (an inference net only), so
    /// that a net rebuilt to keep another blob can compute it again as it was.
    private var lastForward: (range: ClosedRange<Int>, states: [LayerState])?

    init(net: Net, rebuild: Rebuild?) {
        self.net = net
        self.rebuild = rebuild
    }

    deinit { free(structure) }

    /// Opens a net file for the C API. As written, its Input layers' tops take gradients, as
    /// Caffe's `force_backward` gives them, so that backward reaches the picture (saliency).
    /// For `inference` (test phase only) it is planned as `swiftcaffe test` plans it: folded
    /// layers, the convolution engine's cached weights, blobs taking turns in memory and
    /// channels-last runs. A blob the caller then reads that the plan did not keep
    /// (`readable`) makes the handle plan it again keeping that blob; backward is refused.
    static func open(path: String, weights: String?, phase: Phase, state: NetState, inference: Bool) throws -> NetHandle {
        CFormats.register()
        if inference && phase != .test { throw CallError.invalid("only a test-phase net can be built for inference") }
        let spec = try NetSpec.load(path: path, state: state)
        func build(_ spec: NetSpec, keeping: Set<String>, sharingWith other: Net?) throws -> Net {
            let inputs = spec.layers.filter { $0.type == "Input" && ($0.phase == nil || $0.phase == phase) }.flatMap(\.tops)
            let options = inference
                ? NetOptions(phase: phase, purpose: .inference, keeping: keeping, sharingParametersWith: other)
                : NetOptions(phase: phase, purpose: .asWritten, inputGradients: Set(inputs), sharingParametersWith: other)
            return try Net(spec: spec, options: options)
        }
        let net = try build(spec, keeping: [], sharingWith: nil)
        if let weights { try net.loadWeights(from: weights, requireAll: false) }
        return NetHandle(net: net) { old, shapes, keeping in
            var spec = old.plan.spec
            for (index, layer) in old.layers.enumerated() where layer.spec.type == "Input" {
                let tops = old.tops[index]
                guard tops.contains(where: { shapes[$0.name] != nil }) else { continue }
                let wanted = tops.map { shapes[$0.name] ?? $0.shape }
                spec = try spec.setting("shape", to: { DeployNet.shapeNode(wanted, at: $0) }, inLayers: { $0.name == layer.spec.name && $0.phase != phase.other })
            }
            return try build(spec, keeping: keeping, sharingWith: old)
        }
    }

    /// Whether `blob` holds its own values in N×C×H×W after forward. Every blob of a net
    /// built as written does; in an inference net, the ones its plan keeps: the outputs, the
    /// classifier's blobs, the tops of layers without bottoms, and those named in `keeping`
    /// (`BlobSharing` and `ChannelsLastLayout` keep the same ones).
    private func readable(_ blob: Blob) -> Bool {
        guard net.plan.inferenceOnly else { return true }
        if keeping.contains(blob.name) || net.outputNames.contains(blob.name) { return true }
        if let classifier = net.plan.classifier, [classifier.scores.name, classifier.labels.name].contains(blob.name) { return true }
        return net.layers.indices.contains { net.bottoms[$0].isEmpty && net.tops[$0].contains { $0 === blob } }
    }

    /// The blob `name`, readable: an inference net that let it go is planned again keeping
    /// it, and its last forward run again from the same inputs and layer states.
    func blob(named name: String) throws -> Blob {
        guard let blob = net.blobs[name] else { throw CallError.notFound("the net has no blob '\(name)'") }
        guard !readable(blob), let rebuild else { return blob }
        keeping.insert(name)
        try replace(with: rebuild(net, [:], keeping))
        return net.blobs[name]!
    }

    /// Puts `fresh` in place of the net: the inputs' values carried over, and the last
    /// forward (if any) run again.
    private func replace(with fresh: Net) throws {
        let old = net
        for index in old.layers.indices where old.bottoms[index].isEmpty {
            for top in old.tops[index] where fresh.blobs[top.name]?.count == top.count {
                fresh.blobs[top.name]!.data.update(from: top.data, count: top.count)
            }
        }
        net = fresh
        free(structure)
        structure = nil
        if let last = lastForward, fresh.layers.indices.contains(last.range.upperBound) {
            try fresh.restoreLayerStates(last.states)
            _ = try forward(last.range)
        }
    }

    /// The structure as JSON (`sc_net_describe`), made once per shape.
    var describe: UnsafePointer<CChar> {
        if let structure { return UnsafePointer(structure) }
        let text = String(decoding: (try? JSONEncoder().encode(NetStructure(net))) ?? Data("{}".utf8), as: UTF8.self)
        structure = strdup(text)
        return UnsafePointer(structure!)
    }

    /// Input shapes asked for and not yet planned (`reshape`).
    private var pending: [String: [Int]] = [:]

    /// Records a new shape for the Input layer's top `name`; `reshape` plans the net with it.
    func reshapeInput(_ name: String, to shape: [Int]) throws {
        guard rebuild != nil else { throw CallError.invalid("a solver's net cannot be reshaped; change the batch in its net file") }
        guard net.layers.indices.contains(where: { net.layers[$0].spec.type == "Input" && net.tops[$0].contains { $0.name == name } }) else {
            throw CallError.invalid("'\(name)' is not the top of an Input layer: only a net's inputs can be reshaped (the layers shape every other blob)")
        }
        guard shape.allSatisfy({ $0 >= 1 && $0 <= Int(Int32.max) }) else {
            throw CallError.invalid("cannot reshape '\(name)' to \(shape): every axis must be between 1 and \(Int32.max)")
        }
        pending[name] = shape
    }

    /// Plans the net again with the recorded input shapes, its parameters shared (their
    /// values and pointers stay). On an error the shapes stay recorded, and the net as it was.
    func reshape() throws {
        guard !pending.isEmpty, let rebuild else { return }
        let fresh = try rebuild(net, pending, keeping)
        pending = [:]
        lastForward = nil  // other shapes: nothing to compute again
        net = fresh
        free(structure)
        structure = nil
    }

    /// Runs layers `range` forward; the weighted loss, or 0 for a net without one.
    func forward(_ range: ClosedRange<Int>) throws -> Float {
        try reshape()
        if net.plan.inferenceOnly && rebuild != nil { lastForward = (range, net.layerStates()) }
        for index in range { try net.forwardLayer(at: index) }
        return net.lossTops.isEmpty ? 0 : net.loss
    }

    /// Whether backward is refused (a net built for inference).
    var isInferenceOnly: Bool { net.plan.inferenceOnly }

    /// Runs layers `range` backward, top first. A net without a loss runs every layer that
    /// learns or passes a gradient on (backward from diffs the caller wrote into its outputs);
    /// the losses whose layers are in the range are seeded with their weights first.
    func backward(_ range: ClosedRange<Int>) {
        let plan = net.plan
        for (blob, weight) in plan.lossTops {
            guard let producer = plan.tops.firstIndex(where: { $0.contains { $0 === blob } }), range.contains(producer) else { continue }
            blob.diff.update(repeating: weight, count: blob.count)
        }
        for index in range.reversed() {
            let runs = plan.lossTops.isEmpty
                ? !plan.layers[index].params.isEmpty || plan.bottoms[index].contains { $0.needsGradient }
                : plan.runsBackward[index]
            if runs { plan.layers[index].backward(topDiff: plan.tops[index], bottomDiff: plan.bottoms[index]) }
        }
    }

    /// Layers `start` to `end` (-1: the last), checked.
    func layers(from start: Int32, to end: Int32) throws -> ClosedRange<Int> {
        let count = net.layers.count
        let last = end < 0 ? count - 1 : Int(end)
        guard (0..<count).contains(Int(start)), (0..<count).contains(last), Int(start) <= last else {
            throw CallError.notFound("layers \(start) to \(end) are not a range of this net's \(count) layers")
        }
        return Int(start)...last
    }
}

extension Phase {
    /// The phase that is not this one.
    var other: Phase { self == .train ? .test : .train }
}

/// The JSON of `sc_net_describe`.
struct NetStructure: Encodable {
    struct LayerEntry: Encodable {
        var name: String, type: String, bottoms: [String], tops: [String], params: Int
    }
    var name: String
    var phase: String
    var layers: [LayerEntry]
    var blobs: [String]
    var inputs: [String]
    var outputs: [String]

    init(_ net: Net) {
        name = net.name
        phase = net.phase.rawValue
        layers = net.layers.indices.map { index in
            let layer = net.layers[index]
            return LayerEntry(name: layer.spec.name, type: layer.spec.type, bottoms: net.bottoms[index].map(\.name),
                              tops: net.tops[index].map(\.name), params: layer.params.count)
        }
        // Blobs in the order the file's layers make them, as Caffe lists them (its nets run
        // in file order; SwiftCaffe's schedule breaks ties by name). A layer the schedule adds
        // (a Split) sorts right after the layer whose top it copies.
        let filePositions = Dictionary(net.plan.spec.layers.enumerated().filter { $0.element.phase == nil || $0.element.phase == net.phase }
                                           .map { ($0.element.name, Double($0.offset)) }, uniquingKeysWith: { first, _ in first })
        var creator: [String: Double] = [:]
        var made: [(name: String, position: Double)] = []
        for index in net.layers.indices {
            let position = filePositions[net.layers[index].spec.name]
                ?? (net.bottoms[index].first.flatMap { creator[$0.name] }.map { $0 + 0.5 } ?? Double(index))
            for top in net.tops[index] where creator[top.name] == nil {
                creator[top.name] = position
                made.append((top.name, position))
            }
        }
        blobs = made.enumerated().sorted { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }.map(\.element.name)
        inputs = net.layers.indices.filter { net.layers[$0].spec.type == "Input" }.flatMap { net.tops[$0].map(\.name) }
        outputs = net.outputNames
    }
}

/// The net-file and weights formats beyond YAML and safetensors, registered once.
enum CFormats {
    private static let registration: Void = {
        CaffeFormats.register()
        ONNXFormats.register()
    }()

    static func register() { registration }
}

import Foundation
import SwiftCaffe

/// An ONNX model as a SwiftCaffe net and its weights, so that an `.onnx` file goes wherever a
/// net goes (`NetReaders`, registered by `ONNXFormats`) and its initializers wherever weights
/// go (`TensorFiles`). Each node becomes the layers that compute what the operator computes,
/// named after the node; constants (initializers, `Constant`, and `Shape`, `Gather`,
/// `Unsqueeze`, `Concat`, `Cast` and arithmetic over them) are folded while reading, so
/// `torch.onnx.export`'s shape arithmetic leaves no layers behind.
///
/// The operators read are those of the classification models torchvision and timm export
/// (see `Translator.translate`). Anything else, or an attribute whose meaning our layers do not
/// have (asymmetric padding, a step other than 1, an average that leaves padding out), is an
/// error naming the node and the operator. A symbolic batch dimension becomes 1: `Predictor`
/// and `forward` run any number of samples through it.
public enum ONNXImport {
    /// The net and its weights; a model is translated once per modification of its file.
    public static func load(_ path: String) throws -> (spec: NetSpec, weights: TensorFile) {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let stamp = "\(path)|\((attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)|\(attributes?[.size] ?? 0)"
        if let cached = cache.withLock({ $0[stamp] }) { return cached }
        var translator = Translator(graph: try ONNXGraph(path: path), file: path)
        let result = try translator.run()
        cache.withLock { $0 = [stamp: result] }
        return result
    }

    /// The last model read: `test model.onnx` reads the net, then the same file's weights.
    private static let cache = Locked<[String: (spec: NetSpec, weights: TensorFile)]>([:])
}

/// A value behind a lock, for the import's one-entry cache.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

struct Translator {
    typealias Tensor = ONNXGraph.Tensor
    typealias Node = ONNXGraph.Node

    let graph: ONNXGraph
    let file: String
    /// Values known while reading: initializers and what was folded from them.
    var constants: [String: Tensor]
    /// Values the net computes: the blob that holds each, and its shape.
    var blobs: [String: String] = [:]
    var shapes: [String: [Int]] = [:]
    /// The layers, each a YAML flow mapping, and their parameters by `<layer>.<index>`.
    var layers: [String] = []
    var weights: [(name: String, tensor: Safetensors.Tensor)] = []
    var layerNames: Set<String> = []
    var blobNames: Set<String> = []
    /// How many nodes (and graph outputs) read each value, for fusing a pair of nodes into
    /// one layer; and the nodes already translated with an earlier one.
    var readers: [String: [Int]] = [:]
    var fused: Set<Int> = []
    /// The values whose first axis is the model's symbolic batch, so that `Shape` of them
    /// folds to a list whose first entry is the batch (`Tensor.batch`) and a `Reshape` to it
    /// copies the batch (0) instead of fixing it at 1: `x.view(x.size(0), -1)`, ShuffleNet's
    /// channel shuffle.
    var batchLed: Set<String> = []
    /// The node being read, for errors raised below the operator's own code.
    var reading: Node?
    /// Zero padding of H and W not yet applied (a `Pad` node): the padded value's source and
    /// its pads [top, left, bottom, right], for the convolution that reads it to take over.
    var padded: [String: (source: String, pads: [Int])] = [:]
    /// Blobs that also hold another value's name (an Identity's, a Dropout's): never written
    /// in place, since their other names may have readers of their own.
    var aliased: Set<String> = []
    /// The next suffix number to try for a layer or blob name (`unique`).
    var nextNumber: [String: Int] = [:]
    let graphInputs: Set<String>, graphOutputs: Set<String>

    init(graph: ONNXGraph, file: String) {
        self.graph = graph
        self.file = file
        constants = graph.initializers
        graphInputs = Set(graph.inputs.map(\.name))
        graphOutputs = Set(graph.outputs.map(\.name))
    }

    mutating func run() throws -> (spec: NetSpec, weights: TensorFile) {
        for input in graph.inputs where constants[input.name] == nil {
            guard input.elementType == 1 else {
                throw SwiftCaffeError("input '\(input.name)' of '\(file)' has element type \(input.elementType); SwiftCaffe nets take float inputs", hint: ONNXGraph.hint)
            }
            guard !input.dims.isEmpty, input.dims.dropFirst().allSatisfy({ $0 != nil }) else {
                throw SwiftCaffeError("input '\(input.name)' of '\(file)' has no fixed size but for its first (batch) dimension: \(input.dims.map { $0.map(String.init) ?? "?" })",
                                      hint: "export the model with fixed sizes for all but the batch dimension")
            }
            let shape = input.dims.map { $0 ?? 1 }
            guard shape.allSatisfy({ $0 <= Int(Int32.max) }), checkedCount(shape) != nil else {
                throw SwiftCaffeError("input '\(input.name)' of '\(file)' has shape \(shape), over 2³¹ values", hint: ONNXGraph.hint)
            }
            let name = layerName(input.name)
            blobNames.insert(input.name)
            layers.append(flow([("name", quote(name)), ("type", "Input"), ("top", quote(input.name)), ("shape", list(shape))]))
            blobs[input.name] = input.name
            shapes[input.name] = shape
            if input.dims[0] == nil { batchLed.insert(input.name) }
        }
        for node in graph.nodes { for input in node.inputs where !input.isEmpty { readers[input, default: []].append(node.index) } }
        for output in graph.outputs { readers[output.name, default: []].append(-1) }
        for node in graph.nodes where !fused.contains(node.index) {
            guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw refusal(node, "is in the operator domain '\(node.domain)', which SwiftCaffe does not read")
            }
            guard !node.outputs.isEmpty, !node.outputs[0].isEmpty else { throw refusal(node, "has no output") }
            reading = node
            if try fold(node) { continue }
            try translate(node)
        }
        for output in graph.outputs where blobs[output.name] == nil {
            throw SwiftCaffeError("output '\(output.name)' of '\(file)' is \(constants[output.name] != nil ? "a constant" : "not computed by any node")",
                                  hint: "export the model with outputs computed from its inputs")
        }
        let text = "name: \(quote(graph.name.isEmpty ? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent : graph.name))\nlayers:\n"
            + layers.map { "  - \($0)\n" }.joined()
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent().path
        var spec = try NetSpec.parse(text, file: file, baseDirectory: folder)
        spec.weightsFile = file
        return (spec, TensorFile(tensors: weights, metadata: ["net": spec.name, "source": "ONNX, opset \(graph.opset)"]))
    }

    // MARK: Names and YAML

    func refusal(_ node: Node, _ why: String, hint: String = "export the model with the operators torchvision's classifiers use, or leave this part out") -> SwiftCaffeError {
        SwiftCaffeError("\(node.description) in '\(file)' \(why)", hint: hint)
    }

    /// A layer name not yet taken, from the node's name (or its first output's).
    mutating func layerName(_ base: String) -> String {
        let base = base.isEmpty ? "layer\(layers.count + 1)" : base
        let (name, next) = unique(base) { layerNames.contains($0) }
        nextNumber[base] = next
        layerNames.insert(name)
        return name
    }

    /// `base`, or `base_2`, `base_3`, … the first that is not `taken`. The number to try next
    /// is kept per base, so a model of many nodes with one name costs linear time, not
    /// quadratic (a hostile file could otherwise stall the import).
    func unique(_ base: String, taken: (String) -> Bool) -> (name: String, next: Int) {
        var number = nextNumber[base] ?? 1, name = number == 1 ? base : "\(base)_\(number)"
        while taken(name) {
            number += 1
            name = "\(base)_\(number)"
        }
        return (name, number + 1)
    }

    /// A blob name for an intermediate value of `node`'s translation.
    mutating func intermediate(_ base: String) -> String {
        let (name, next) = unique(base) { blobNames.contains($0) || graph.initializers[$0] != nil }
        nextNumber[base] = next
        blobNames.insert(name)
        return name
    }

    func quote(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: quoted += String(format: "\\u%04X", scalar.value)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
    func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ", ") + "]" }
    func number(_ value: Float) -> String { value.isFinite ? "\(value)" : (value > 0 ? "3.4028235e38" : "-3.4028235e38") }
    func flow(_ pairs: [(String, String)]) -> String { "{" + pairs.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}" }

    /// Adds a layer for `node` (the node's own name for its main layer, a suffix for helpers)
    /// and returns its name.
    @discardableResult
    mutating func emit(_ node: Node, _ type: String, bottoms: [String], tops: [String], _ keys: [(String, String)] = [],
                       params: [Safetensors.Tensor] = [], suffix: String = "") -> String {
        let name = layerName((node.name.isEmpty ? node.outputs.first ?? node.opType : node.name) + suffix)
        let bottom = bottoms.count == 1 ? quote(bottoms[0]) : "[" + bottoms.map(quote).joined(separator: ", ") + "]"
        let top = tops.count == 1 ? quote(tops[0]) : "[" + tops.map(quote).joined(separator: ", ") + "]"
        layers.append(flow([("name", quote(name)), ("type", type), ("bottom", bottom), ("top", top)] + keys))
        for (index, tensor) in params.enumerated() { weights.append(("\(name).\(index)", tensor)) }
        return name
    }

    /// Records `node`'s output `index` as computed into `blob` with `shape`.
    mutating func output(_ node: Node, _ index: Int = 0, blob: String, shape: [Int]) {
        blobs[node.outputs[index]] = blob
        shapes[node.outputs[index]] = shape
        let led = node.inputs.first { batchLed.contains($0) }
        if let led, shapes[led]?.first == shape.first, (try? keepsFirstAxis(node)) == true { batchLed.insert(node.outputs[index]) }
    }

    /// Whether `node` leaves its input's first axis first: not a Transpose that moves it, a
    /// join or cut along it, or a reshape that does not copy it.
    func keepsFirstAxis(_ node: Node) throws -> Bool {
        switch node.opType {
        case "Transpose": return try ints(node, "perm")?.first == 0
        case "Concat", "Split": return try int(node, "axis", node.opType == "Concat" ? 1 : 0) != 0
        case "Slice": return try !(constant(node, 3).map(integers) ?? [0]).contains(0)
        case "Flatten": return try int(node, "axis", 1) != 0
        case "Reshape":
            guard let target = constant(node, 1) else { return false }
            return try integers(target).first == 0 || target.batch.contains(0)
        case "Squeeze", "Unsqueeze": return try leavesFirstAxis(node, shapes[node.inputs[0]] ?? [])
        default: return true
        }
    }

    /// The blob a neuron, BatchNorm or Scale for `node` writes: its input's own blob when this
    /// node is the value's only reader and neither the input nor the node's output is a graph
    /// input or output, else the node's output name. Written in place, a ReLU or
    /// BatchNorm after a convolution folds into it as in Caffe's nets (`InPlaceFolding`
    /// folds only in-place layers); ONNX never writes in place.
    mutating func inPlaceTop(_ node: Node) -> String {
        let input = node.inputs[0]
        // A blob written in place before got there the same way (its earlier value had this
        // one reader), so the readers of the input's name are all the blob's readers still to
        // come, unless an alias gave the blob another name. Graph outputs are readers (-1).
        guard let blob = blobs[input], readers[input] == [node.index], !aliased.contains(blob),
              !graphInputs.contains(input), !graphOutputs.contains(node.outputs[0]) else {
            return top(node)
        }
        return blob
    }

    /// Records `node`'s output as another name of `blob` (Identity, Dropout, a cut that keeps
    /// everything).
    mutating func alias(_ node: Node, blob: String, shape: [Int]) {
        aliased.insert(blob)
        output(node, blob: blob, shape: shape)
    }

    /// The blob for the node's output: its ONNX name.
    mutating func top(_ node: Node, _ index: Int = 0) -> String {
        blobNames.insert(node.outputs[index])
        return node.outputs[index]
    }

    // MARK: Inputs and attributes

    func isGiven(_ node: Node, _ index: Int) -> Bool { index < node.inputs.count && !node.inputs[index].isEmpty }

    /// The blob and shape of a computed input.
    func computed(_ node: Node, _ index: Int) throws -> (blob: String, shape: [Int]) {
        guard isGiven(node, index) else { throw refusal(node, "lacks input \(index + 1)") }
        let name = node.inputs[index]
        if let blob = blobs[name], let shape = shapes[name] { return (blob, shape) }
        if padded[name] != nil {
            throw refusal(node, "reads the output of a Pad; SwiftCaffe folds zero padding only into the convolution that reads it",
                          hint: "export with the padding in the convolution (PyTorch's padding=) instead of a separate pad")
        }
        if constants[name] != nil { throw refusal(node, "takes the constant '\(name)' where SwiftCaffe needs a computed value") }
        throw refusal(node, "reads '\(name)', which nothing before it computes")
    }

    func constant(_ node: Node, _ index: Int) -> Tensor? { isGiven(node, index) ? constants[node.inputs[index]] : nil }

    func requireConstant(_ node: Node, _ index: Int, _ what: String) throws -> Tensor {
        guard let tensor = constant(node, index) else { throw refusal(node, "computes its \(what) (input \(index + 1)); SwiftCaffe needs it to be a constant of the file") }
        return tensor
    }

    /// Attribute numbers are kept within ±2³¹, so that sizes computed from them (windows,
    /// strides, pads) cannot overflow: a larger one is an error, as no real model has it.
    static let attributeRange = -(1 << 31)...(1 << 31)

    func int(_ node: Node, _ key: String, _ fallback: Int) throws -> Int {
        switch node.attributes[key] {
        case nil: return fallback
        case .int(let value)? where Self.attributeRange.contains(value): return value
        case .int(let value)?: throw refusal(node, "has attribute '\(key)' = \(value), out of range")
        default: throw refusal(node, "has attribute '\(key)' of an unexpected kind")
        }
    }

    func float(_ node: Node, _ key: String, _ fallback: Float) throws -> Float {
        switch node.attributes[key] {
        case nil: return fallback
        case .float(let value)?: return value
        default: throw refusal(node, "has attribute '\(key)' of an unexpected kind")
        }
    }

    func ints(_ node: Node, _ key: String) throws -> [Int]? {
        switch node.attributes[key] {
        case nil: return nil
        case .ints(let values)? where values.allSatisfy(Self.attributeRange.contains): return values
        case .int(let value)? where Self.attributeRange.contains(value): return [value]
        case .ints?, .int?: throw refusal(node, "has attribute '\(key)' with a value out of range")
        default: throw refusal(node, "has attribute '\(key)' of an unexpected kind")
        }
    }

    func string(_ node: Node, _ key: String, _ fallback: String) throws -> String {
        switch node.attributes[key] {
        case nil: return fallback
        case .string(let value)?: return value
        default: throw refusal(node, "has attribute '\(key)' of an unexpected kind")
        }
    }

    /// `axis` counted from the end when negative, checked against `rank`.
    func axis(_ node: Node, _ axis: Int, rank: Int) throws -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard (0..<max(rank, 1)).contains(normalized) else { throw refusal(node, "names axis \(axis) of a \(rank)-D tensor") }
        return normalized
    }

    /// Integer values of a constant (shapes, axes, indices).
    /// Integer values of a constant (shapes, axes, indices). A float constant used so must hold
    /// whole numbers within ±2⁶²: NaN or ±∞ as a size is an error, not a guess.
    func integers(_ tensor: Tensor) throws -> [Int] {
        if let ints = tensor.ints { return ints }
        return try tensor.floats.map { value in
            guard value.isFinite, abs(value) < 0x1p62, value.rounded(.towardZero) == value else {
                let place = reading.map { "\($0.description) in " } ?? ""
                throw SwiftCaffeError("\(place)'\(file)' takes as sizes or axes a constant that holds \(value)", hint: ONNXGraph.hint)
            }
            return Int(value)
        }
    }

    /// The values of a constant in row-major order, shaped for a parameter.
    func parameter(_ values: [Float], _ shape: [Int]) -> Safetensors.Tensor { Safetensors.Tensor(shape: shape, values: values) }
}

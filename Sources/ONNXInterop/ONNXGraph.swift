import Foundation
import SwiftCaffe

/// An ONNX model as read from its file: the graph's nodes in order, its initializers, and its
/// inputs and outputs with their shapes. Decoded field by field from the wire
/// (`ProtobufWire`) with the field numbers of onnx.proto, so no schema compiler is needed.
///
/// Every number is checked as the other readers check theirs: a dimension that is negative or
/// makes a tensor of more than 2³¹ values, data that does not hold the dimensions' count, an
/// element type other than the numeric ones, a side file (external data) outside the model's
/// folder or shorter than it says are errors that name the tensor.
struct ONNXGraph {
    /// A tensor with its values as Float (for weights) and, for integer types, as Int too
    /// (shapes, axes and indices are int64 in ONNX).
    struct Tensor {
        var dims: [Int]
        var floats: [Float]
        var ints: [Int]?
        /// Positions whose value is the model's batch size (1 here, any when run): what a
        /// `Shape` of a batch-led value gave, followed through the folding.
        var batch: Set<Int> = []

        var count: Int { dims.reduce(1, *) }
    }

    enum Attribute {
        case float(Float), int(Int), string(String), tensor(Tensor), floats([Float]), ints([Int])
        /// A graph, or a list of strings or tensors: nothing the operators we read take.
        case unsupported
    }

    struct Node {
        var name: String
        var opType: String
        var domain: String
        var inputs: [String]
        var outputs: [String]
        var attributes: [String: Attribute]
        /// Its place among the graph's nodes, from 0.
        var index: Int

        /// How errors name it: `node 'conv1' (#3, Conv)`.
        var description: String { "node '\(name.isEmpty ? outputs.first ?? "?" : name)' (#\(index + 1), \(opType))" }
    }

    /// A graph input or output: nil where a dimension is symbolic (`N`, `batch_size`) or unknown.
    struct Value {
        var name: String
        var dims: [Int?]
        /// TensorProto's element type: 1 is float.
        var elementType: Int
    }

    var name = ""
    /// The version of the default operator set ("" or "ai.onnx").
    var opset = 0
    var nodes: [Node] = []
    var initializers: [String: Tensor] = [:]
    var inputs: [Value] = []
    var outputs: [Value] = []

    static let hint = "pass an .onnx model as torch.onnx.export or onnx.save writes it"

    init(path: String) throws {
        let data = try FileChecks.contents(of: path, what: "the ONNX model")
        let wire = ProtobufWire(bytes: [UInt8](data), file: path, kind: "an ONNX model", hint: Self.hint)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var graph: Range<Int>?
        try wire.forEachField(in: 0..<wire.bytes.count) { number, value in
            switch (number, value) {
            case (7, .bytes(let range)): graph = range
            case (8, .bytes(let range)):  // opset_import: domain 1, version 2
                var domain = "", version = 0
                try wire.forEachField(in: range) { field, value in
                    if field == 1, case .bytes(let text) = value { domain = Self.string(wire, text) }
                    if field == 2, case .varint(let number) = value { version = Int(truncatingIfNeeded: number) }
                }
                if domain.isEmpty || domain == "ai.onnx" { opset = version }
            default: break
            }
        }
        guard let graph else { throw SwiftCaffeError("'\(path)' is not an ONNX model: it has no graph", hint: Self.hint) }
        let reader = TensorReader(wire: wire, folder: folder)
        try wire.forEachField(in: graph) { number, value in
            guard case .bytes(let range) = value else { return }
            switch number {
            case 1: nodes.append(try Self.node(wire, range, index: nodes.count, reader: reader))
            case 2: name = Self.string(wire, range)
            case 5:
                let (name, tensor) = try reader.tensor(range)
                initializers[name] = tensor
            case 11: inputs.append(try Self.value(wire, range))
            case 12: outputs.append(try Self.value(wire, range))
            case 15: throw SwiftCaffeError("'\(path)' has sparse initializers, which SwiftCaffe does not read", hint: "save the model with dense tensors")
            default: break
            }
        }
        guard opset > 0 else { throw SwiftCaffeError("'\(path)' does not say its operator set version (opset_import)", hint: Self.hint) }
    }

    static func string(_ wire: ProtobufWire, _ range: Range<Int>) -> String { String(decoding: wire.bytes[range], as: UTF8.self) }

    private static func node(_ wire: ProtobufWire, _ range: Range<Int>, index: Int, reader: TensorReader) throws -> Node {
        var node = Node(name: "", opType: "", domain: "", inputs: [], outputs: [], attributes: [:], index: index)
        try wire.forEachField(in: range) { number, value in
            guard case .bytes(let field) = value else { return }
            switch number {
            case 1: node.inputs.append(string(wire, field))
            case 2: node.outputs.append(string(wire, field))
            case 3: node.name = string(wire, field)
            case 4: node.opType = string(wire, field)
            case 7: node.domain = string(wire, field)
            case 5:
                let (name, attribute) = try self.attribute(wire, field, reader: reader)
                node.attributes[name] = attribute
            default: break
            }
        }
        return node
    }

    /// AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8; the rest unsupported.
    private static func attribute(_ wire: ProtobufWire, _ range: Range<Int>, reader: TensorReader) throws -> (String, Attribute) {
        var name = "", attribute = Attribute.unsupported
        var floats: [Float] = [], ints: [Int] = [], sawList = false
        try wire.forEachField(in: range) { number, value in
            switch (number, value) {
            case (1, .bytes(let text)): name = string(wire, text)
            case (2, .fixed(let bits)): attribute = .float(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
            case (3, .varint(let bits)): attribute = .int(Int(Int64(bitPattern: bits)))
            case (4, .bytes(let text)): attribute = .string(string(wire, text))
            case (5, .bytes(let tensor)): attribute = .tensor(try reader.tensor(tensor).1)
            case (7, _):
                sawList = true
                floats += try reader.fixed32s(value).map { Float(bitPattern: $0) }
            case (8, _):
                sawList = true
                ints += try reader.varints(value)
            case (6, _), (9, _), (10, _), (11, _): attribute = .unsupported
            default: break
            }
        }
        if sawList { attribute = floats.isEmpty ? .ints(ints) : .floats(floats) }
        return (name, attribute)
    }

    /// ValueInfoProto: name 1, type 2 → TypeProto.tensor_type 1 → elem_type 1, shape 2 → dim 1
    /// → dim_value 1 | dim_param 2.
    private static func value(_ wire: ProtobufWire, _ range: Range<Int>) throws -> Value {
        var value = Value(name: "", dims: [], elementType: 0)
        try wire.forEachField(in: range) { number, field in
            guard case .bytes(let bytes) = field else { return }
            if number == 1 { value.name = string(wire, bytes) }
            guard number == 2 else { return }
            try wire.forEachField(in: bytes) { number, field in
                guard number == 1, case .bytes(let tensorType) = field else { return }
                try wire.forEachField(in: tensorType) { number, field in
                    if number == 1, case .varint(let type) = field { value.elementType = Int(truncatingIfNeeded: type) }
                    guard number == 2, case .bytes(let shape) = field else { return }
                    try wire.forEachField(in: shape) { number, field in
                        guard number == 1, case .bytes(let dimension) = field else { return }
                        var size: Int?
                        try wire.forEachField(in: dimension) { number, field in
                            if number == 1, case .varint(let bits) = field {
                                let dimension = Int(Int64(bitPattern: bits))
                                size = dimension > 0 ? dimension : nil
                            }
                        }
                        value.dims.append(size)
                    }
                }
            }
        }
        return value
    }
}

/// Decodes TensorProto: dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7, name 8,
/// raw_data 9, double_data 10, external_data 13 (key 1, value 2), data_location 14.
struct TensorReader {
    let wire: ProtobufWire
    let folder: String

    /// Element types read, with their width in raw_data.
    static let widths: [Int: Int] = [1: 4, 2: 1, 3: 1, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8]
    static let integerTypes: Set<Int> = [2, 3, 5, 6, 7, 9, 12, 13]

    func tensor(_ range: Range<Int>) throws -> (String, ONNXGraph.Tensor) {
        var dims: [Int] = [], type = 0, name = ""
        var raw: [UInt8]?, floats: [Float] = [], int64s: [Int] = [], doubles: [Double] = []
        var external: [String: String] = [:], isExternal = false
        try wire.forEachField(in: range) { number, value in
            switch number {
            case 1: dims += try varints(value)
            case 2: if case .varint(let bits) = value { type = Int(truncatingIfNeeded: bits) }
            case 4: floats += try fixed32s(value).map { Float(bitPattern: $0) }
            case 5, 7: int64s += try varints(value)  // int32_data holds int32, uint8, int8, bool, float16 bits
            case 8: if case .bytes(let text) = value { name = ONNXGraph.string(wire, text) }
            case 9: if case .bytes(let bytes) = value { raw = Array(wire.bytes[bytes]) }
            case 10: doubles += try fixed64s(value).map { Double(bitPattern: $0) }
            case 13:
                guard case .bytes(let entry) = value else { return }
                var key = "", text = ""
                try wire.forEachField(in: entry) { field, value in
                    if case .bytes(let bytes) = value { if field == 1 { key = ONNXGraph.string(wire, bytes) } else if field == 2 { text = ONNXGraph.string(wire, bytes) } }
                }
                external[key] = text
            case 14: if case .varint(let location) = value { isExternal = location == 1 }
            default: break
            }
        }
        func bad(_ why: String) -> SwiftCaffeError {
            SwiftCaffeError("tensor '\(name)' in '\(wire.file)' \(why)", hint: ONNXGraph.hint)
        }
        guard let width = Self.widths[type] else { throw bad("has element type \(type), which SwiftCaffe does not read (it reads numbers)") }
        guard dims.allSatisfy({ $0 >= 0 }), let count = checkedCount(dims) else { throw bad("has dimensions \(dims)") }
        if isExternal { raw = try externalData(external, bytes: count * width, tensor: name) }
        var tensor = ONNXGraph.Tensor(dims: dims, floats: [])
        if let raw {
            guard raw.count == count * width else { throw bad("holds \(raw.count) bytes of data for \(count) values of \(width) bytes") }
            tensor.floats = Self.decode(raw, type: type, width: width, count: count)
        } else {
            let given = type == 1 ? floats.count : type == 11 ? doubles.count : int64s.count
            guard given == count else { throw bad("holds \(given) values for dimensions \(dims)") }
            tensor.floats = type == 1 ? floats : type == 11 ? doubles.map(Float.init)
                : type == 10 ? int64s.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) }
                : int64s.map(Float.init)
        }
        if Self.integerTypes.contains(type) {
            tensor.ints = raw.map { Self.decodeIntegers($0, type: type, width: width, count: count) } ?? int64s
        }
        return (name, tensor)
    }

    /// Little-endian values of `type` as Float.
    static func decode(_ raw: [UInt8], type: Int, width: Int, count: Int) -> [Float] {
        if integerTypes.contains(type) { return decodeIntegers(raw, type: type, width: width, count: count).map(Float.init) }
        return (0..<count).map { index in
            let bits = (0..<width).reduce(UInt64(0)) { $0 | UInt64(raw[index * width + $1]) << (8 * UInt64($1)) }
            switch type {
            case 10: return Float(Float16(bitPattern: UInt16(truncatingIfNeeded: bits)))
            case 11: return Float(Double(bitPattern: bits))
            default: return Float(bitPattern: UInt32(truncatingIfNeeded: bits))
            }
        }
    }

    static func decodeIntegers(_ raw: [UInt8], type: Int, width: Int, count: Int) -> [Int] {
        (0..<count).map { index in
            let bits = (0..<width).reduce(UInt64(0)) { $0 | UInt64(raw[index * width + $1]) << (8 * UInt64($1)) }
            switch type {
            case 3: return Int(Int8(truncatingIfNeeded: bits))
            case 5: return Int(Int16(truncatingIfNeeded: bits))
            case 6: return Int(Int32(truncatingIfNeeded: bits))
            case 7: return Int(Int64(bitPattern: bits))
            default: return Int(truncatingIfNeeded: bits)  // unsigned, bool
            }
        }
    }

    /// The bytes of an external-data tensor: `location` is a file in the model's folder (a
    /// path that leaves it, or an absolute one, is refused), `offset` and `length` within it.
    private func externalData(_ entries: [String: String], bytes: Int, tensor: String) throws -> [UInt8] {
        guard let location = entries["location"], !location.isEmpty, !location.hasPrefix("/"),
              !location.split(separator: "/").contains("..") else {
            throw SwiftCaffeError("tensor '\(tensor)' in '\(wire.file)' keeps its data in '\(entries["location"] ?? "")', not a file beside the model",
                                  hint: "keep the external data files in the model's folder, as onnx.save writes them")
        }
        let offset = Int(entries["offset"] ?? "0") ?? -1, length = Int(entries["length"] ?? "\(bytes)") ?? -1
        guard offset >= 0, length == bytes else {
            throw SwiftCaffeError("tensor '\(tensor)' in '\(wire.file)' gives offset \(entries["offset"] ?? "0") and length \(entries["length"] ?? "-") for \(bytes) bytes",
                                  hint: ONNXGraph.hint)
        }
        let path = folder + "/" + location
        let data = try FileChecks.contents(of: path, what: "the external data of tensor '\(tensor)'")
        guard offset <= data.count, data.count - offset >= bytes else {
            throw SwiftCaffeError("'\(path)' holds \(data.count) bytes; tensor '\(tensor)' needs \(bytes) from byte \(offset)", hint: "the side file is truncated or belongs to another model")
        }
        return Array(data[(data.startIndex + offset)..<(data.startIndex + offset + bytes)])
    }

    /// A repeated varint field, packed (one length-delimited field) or not (one field each).
    func varints(_ value: ProtobufWire.Value) throws -> [Int] {
        switch value {
        case .varint(let bits): return [Int(Int64(bitPattern: bits))]
        case .fixed: return []
        case .bytes(let range):
            var values: [Int] = [], position = range.lowerBound
            while position < range.upperBound {
                var bits: UInt64 = 0, shift: UInt64 = 0
                while true {
                    guard position < range.upperBound, shift < 64 else {
                        throw SwiftCaffeError("'\(wire.file)' is not an ONNX model: a packed number runs past its field at byte \(position)", hint: ONNXGraph.hint)
                    }
                    let byte = wire.bytes[position]
                    position += 1
                    bits |= UInt64(byte & 0x7F) << shift
                    shift += 7
                    if byte & 0x80 == 0 { break }
                }
                values.append(Int(Int64(bitPattern: bits)))
            }
            return values
        }
    }

    func fixed32s(_ value: ProtobufWire.Value) throws -> [UInt32] { try fixed(value, width: 4).map { UInt32(truncatingIfNeeded: $0) } }
    func fixed64s(_ value: ProtobufWire.Value) throws -> [UInt64] { try fixed(value, width: 8) }

    private func fixed(_ value: ProtobufWire.Value, width: Int) throws -> [UInt64] {
        switch value {
        case .fixed(let bits): return [bits]
        case .varint: return []
        case .bytes(let range):
            guard range.count % width == 0 else {
                throw SwiftCaffeError("'\(wire.file)' is not an ONNX model: a packed list of \(range.count) bytes is not whole \(width)-byte values", hint: ONNXGraph.hint)
            }
            return stride(from: range.lowerBound, to: range.upperBound, by: width).map { start in
                (0..<width).reduce(UInt64(0)) { $0 | UInt64(wire.bytes[start + $1]) << (8 * UInt64($1)) }
            }
        }
    }
}

/// The parts of an ONNX model this exporter writes (ModelProto and what it holds), each with
/// the field numbers of onnx.proto. Tensors are float32 (data type 1) or int64 (7), stored as
/// little-endian `raw_data`.
/// An attribute of an ONNX node: one int, float, string, ints or floats.
public enum ONNXAttribute {
    case int(Int), float(Float), string(String), ints([Int]), floats([Float])
}

struct ONNXModel {
    typealias Attribute = ONNXAttribute

    struct Node {
        var opType: String
        var name: String
        var inputs: [String]
        var outputs: [String]
        var attributes: [(String, Attribute)] = []
    }

    struct Tensor {
        var name: String
        var shape: [Int]
        var floats: [Float]?
        var int64s: [Int]?
    }

    /// A graph input or output: float32 with these dimensions, a string for a symbolic one.
    struct Value {
        var name: String
        var dimensions: [Dimension]
        enum Dimension { case fixed(Int), symbolic(String) }
    }

    var graphName: String
    var nodes: [Node] = []
    var initializers: [Tensor] = []
    var inputs: [Value] = []
    var outputs: [Value] = []
    /// The default domain's operator set.
    var opset = 17
    /// IR version 8 goes with opset 17.
    var irVersion = 8

    func encoded() -> [UInt8] {
        var model = ProtobufWriter()
        model.int(1, irVersion)
        model.string(2, "swiftcaffe")
        model.message(7) { graph in
            for node in nodes { graph.message(1) { Self.write(node, into: &$0) } }
            graph.string(2, graphName)
            for tensor in initializers { graph.message(5) { Self.write(tensor, into: &$0) } }
            for value in inputs { graph.message(11) { Self.write(value, into: &$0) } }
            for value in outputs { graph.message(12) { Self.write(value, into: &$0) } }
        }
        model.message(8) { set in
            set.string(1, "")
            set.int(2, opset)
        }
        return model.bytes
    }

    private static func write(_ node: Node, into writer: inout ProtobufWriter) {
        for input in node.inputs { writer.string(1, input) }
        for output in node.outputs { writer.string(2, output) }
        writer.string(3, node.name)
        writer.string(4, node.opType)
        for (name, attribute) in node.attributes {
            writer.message(5) { a in
                a.string(1, name)
                switch attribute {
                case .float(let value): a.float(2, value); a.int(20, 1)
                case .int(let value): a.int(3, value); a.int(20, 2)
                case .string(let value): a.string(4, value); a.int(20, 3)
                case .floats(let values): for value in values { a.float(7, value) }; a.int(20, 6)
                case .ints(let values): for value in values { a.int(8, value) }; a.int(20, 7)
                }
            }
        }
    }

    private static func write(_ tensor: Tensor, into writer: inout ProtobufWriter) {
        for dimension in tensor.shape { writer.int(1, dimension) }
        var raw: [UInt8] = []
        if let floats = tensor.floats {
            writer.int(2, 1)
            for value in floats { withUnsafeBytes(of: value.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        } else if let values = tensor.int64s {
            writer.int(2, 7)
            for value in values { withUnsafeBytes(of: Int64(value).littleEndian) { raw.append(contentsOf: $0) } }
        }
        writer.string(8, tensor.name)
        writer.data(9, raw)
    }

    private static func write(_ value: Value, into writer: inout ProtobufWriter) {
        writer.string(1, value.name)
        writer.message(2) { type in
            type.message(1) { tensorType in
                tensorType.int(1, 1)
                tensorType.message(2) { shape in
                    for dimension in value.dimensions {
                        shape.message(1) { d in
                            switch dimension {
                            case .fixed(let size): d.int(1, size)
                            case .symbolic(let name): d.string(2, name)
                            }
                        }
                    }
                }
            }
        }
    }
}

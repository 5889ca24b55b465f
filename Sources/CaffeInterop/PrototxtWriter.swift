import CaffeProto
import SwiftCaffe
import SwiftProtobuf

/// Writes a SwiftCaffe net as a Caffe `.prototxt` that Caffe 1.0 reads: the reverse of
/// `CaffeNetTranslation`.
///
/// A layer's flat keys go back into the `*_param` messages of Caffe's schema. Which message a
/// key belongs to is asked of the schema itself: the writer tries `key: value` inside each
/// message the layer type may carry (its own `<type>_param`, then `loss_param`; data layers
/// start with `transform_param`) and keeps the first that swift-protobuf decodes. Enum values
/// are tried as written and in capitals, other words as strings. A key no message takes,
/// such as SwiftCaffe's own `pad` augmentation or a layer type Caffe lacks, is an error naming
/// the layer, because Caffe could not read the file. The text is finally decoded as a whole
/// and re-encoded by swift-protobuf, so what is written is valid by construction.
public enum PrototxtWriter {
    /// Layer types whose `*_param` is not their name in snake case.
    private static let parameterMessages: [String: String] = [
        "Deconvolution": "convolution_param", "SoftmaxWithLoss": "softmax_param", "ReLU": "relu_param", "PReLU": "prelu_param",
        "ELU": "elu_param", "LRN": "lrn_param", "HDF5Data": "hdf5_data_param", "HDF5Output": "hdf5_output_param",
        "TanH": "tanh_param", "ArgMax": "argmax_param", "MVN": "mvn_param", "SPP": "spp_param",
        "LSTM": "recurrent_param", "RNN": "recurrent_param", "Im2col": "convolution_param",
    ]

    static func parameterMessage(of type: String) -> String {
        if let special = parameterMessages[type] { return special }
        var snake = ""
        for (index, character) in type.enumerated() {
            if character.isUppercase && index > 0 { snake += "_" }
            snake += character.lowercased()
        }
        return snake + "_param"
    }

    /// The net as prototxt text.
    public static func write(_ spec: NetSpec) throws -> String {
        var text = "name: \(quoted(spec.name))\n"
        var plans: [Phase: NetPlan] = [:]
        for layer in spec.layers {
            guard layer.type == "Flip" else {
                text += try layerText(layer)
                continue
            }
            let phase = layer.phase ?? .test
            if plans[phase] == nil { plans[phase] = try NetPlan(spec: spec, options: NetOptions(phase: phase)) }
            text += try flipText(layer, plan: plans[phase]!)
        }
        let net: Caffe_NetParameter
        do {
            net = try Caffe_NetParameter(textFormatString: text)
        } catch {
            throw SwiftCaffeError("the prototxt written for '\(spec.file)' does not decode (\(PrototxtReader.describe(error)))",
                                  hint: "this is a bug in SwiftCaffe's writer; please report the net")
        }
        return net.textFormatString()
    }

    /// Caffe has no Flip, but reversing an axis of length n is a Slice into its n entries and
    /// a Concat of them in reverse order: exact, and without weights.
    private static func flipText(_ layer: LayerSpec, plan: NetPlan) throws -> String {
        guard let bottom = layer.bottoms.first, let top = layer.tops.first, let shape = plan.blobs[bottom]?.shape, !shape.isEmpty else {
            throw SwiftCaffeError("Flip has no Caffe equivalent for a scalar bottom", at: layer.location, layer: layer.description,
                                  hint: "write the net with Caffe's layers only")
        }
        let requested = try layer.int("axis", default: -1)
        let axis = requested < 0 ? requested + shape.count : requested
        guard shape.indices.contains(axis) else {
            throw SwiftCaffeError("'axis' is \(requested) but the bottom has \(shape.count) axes", at: layer.location, layer: layer.description)
        }
        let pieces = (0..<shape[axis]).map { "\(layer.name)/\($0)" }
        let include = layer.phase.map { " include { phase: \($0.rawValue.uppercased()) }" } ?? ""
        var text = ""
        if pieces.count > 1 {
            text += "layer { name: \(quoted(layer.name + "/slice")) type: \"Slice\" bottom: \(quoted(bottom)) "
                + pieces.map { "top: \(quoted($0)) " }.joined() + "slice_param { axis: \(axis) }\(include) }\n"
        }
        let sources = pieces.count > 1 ? pieces.reversed() : [bottom]
        text += "layer { name: \(quoted(layer.name)) type: \"Concat\" " + sources.map { "bottom: \(quoted($0)) " }.joined()
            + "top: \(quoted(top)) concat_param { axis: \(axis) }\(include) }\n"
        return text
    }

    private static func layerText(_ layer: LayerSpec) throws -> String {
        if !CaffeLayerTypes.all.contains(layer.type) {
            let dataSet = ["IDXData", "CSVData", "TextData"].contains(layer.type)
            throw SwiftCaffeError("\(layer.type) is SwiftCaffe's own layer type; Caffe 1.0 has no such layer", at: layer.location,
                                  layer: layer.description,
                                  hint: dataSet ? "write the deploy form, whose data layers become Input layers (swiftcaffe convert NET OUT.prototxt --deploy), or convert the data to LMDB (swiftcaffe convert, convert-imageset) and read it with Data"
                                                : "write the net with Caffe's layers only")
        }
        var fields: [String] = ["name: \(quoted(layer.name))", "type: \(quoted(layer.type))"]
        fields += layer.bottoms.map { "bottom: \(quoted($0))" }
        fields += layer.tops.map { "top: \(quoted($0))" }
        if let phase = layer.phase { fields.append("include { phase: \(phase.rawValue.uppercased()) }") }
        // Data layers, and Input (whose scale and means say how `classify` prepares a picture),
        // carry their transform keys in `transform_param`.
        let transforms = layer.type.hasSuffix("Data") || layer.type == "Input"
        let candidates = (transforms ? ["transform_param"] : []) + [parameterMessage(of: layer.type), "loss_param"]
        var grouped: [String: [String]] = [:]
        var order: [String] = []
        for (keyNode, value) in layer.node.mapping ?? [] {
            guard let key = keyNode.scalar, !["name", "type", "bottom", "top", "phase"].contains(key) else { continue }
            if ["param", "loss_weight", "propagate_down"].contains(key) {
                fields.append(try fieldText(key, value, inside: [], layer: layer))
                continue
            }
            var placed = false
            for message in candidates {
                guard let text = try? fieldText(key, value, inside: [message], layer: layer) else { continue }
                if grouped[message] == nil { order.append(message) }
                grouped[message, default: []].append(text)
                placed = true
                break
            }
            if !placed {
                throw SwiftCaffeError("'\(key)' has no place in Caffe's \(layer.type) layer", at: keyNode.location, layer: layer.description,
                                      hint: "it is SwiftCaffe's own; remove it to write a file Caffe reads")
            }
        }
        fields += order.map { "\($0) { \(grouped[$0]!.joined(separator: " ")) }" }
        return "layer { " + fields.joined(separator: " ") + " }\n"
    }

    /// `key: value` in prototxt form, checked by decoding it inside `messages` of a layer. A
    /// list is the field repeated, a mapping a message; a list of numbers under `shape` a
    /// `BlobShape` (a list of lists, one per shape); a bare filler name a filler message.
    private static func fieldText(_ key: String, _ value: YAMLNode, inside messages: [String], layer: LayerSpec) throws -> String {
        func valid(_ text: String) -> Bool {
            let wrapped = messages.map { "\($0) { " }.joined() + text + String(repeating: " }", count: messages.count)
            return (try? Caffe_LayerParameter(textFormatString: wrapped)) != nil
        }
        func scalarText(_ text: String, quotedInFile: Bool) throws -> String {
            let candidates = (quotedInFile ? [] : [text, text.uppercased()]) + [quoted(text)]
            guard let match = candidates.first(where: { valid("\(key): \($0)") }) else {
                throw SwiftCaffeError("'\(key): \(text)' does not fit Caffe's schema", at: value.location, layer: layer.description)
            }
            return "\(key): \(match)"
        }
        if key == "shape" || key == "dim", let items = value.sequence {
            let shapes = items.first?.sequence != nil ? items.map { $0.sequence ?? [] } : [items]
            let text = shapes.map { "\(key) { " + $0.map { "dim: \($0.scalar ?? "")" }.joined(separator: " ") + " }" }.joined(separator: " ")
            guard valid(text) else { throw SwiftCaffeError("'\(key)' does not fit Caffe's schema", at: value.location, layer: layer.description) }
            return text
        }
        switch value.kind {
        case .scalar(let text, let quotedInFile):
            if key.hasSuffix("filler") && !valid("\(key): \(text)") {
                return try fieldText(key, YAMLNode(.mapping([(YAMLNode(.scalar("type", quoted: false), at: value.location), value)]), at: value.location),
                                     inside: messages, layer: layer)
            }
            return try scalarText(text, quotedInFile: quotedInFile)
        case .sequence(let items):
            return try items.map { try fieldText(key, $0, inside: messages, layer: layer) }.joined(separator: " ")
        case .mapping(let pairs):
            let inner = try pairs.map { pair in try fieldText(pair.key.scalar ?? "", pair.value, inside: messages + [key], layer: layer) }
            return "\(key) { " + inner.joined(separator: " ") + " }"
        }
    }

    /// `text` as a protobuf text-format string: quotes and backslashes escaped, and every
    /// control character as an octal escape (a name may hold a line break).
    static func quoted(_ text: String) -> String {
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: escaped += "\\\""
            case 0x5C: escaped += "\\\\"
            case 0..<0x20, 0x7F:
                let octal = String(scalar.value, radix: 8)
                escaped += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }
}

import SwiftCaffe

/// Turns a Caffe net (`NetParameter` text) into the tree a SwiftCaffe net file gives, so that a
/// prototxt goes through exactly the checks a YAML net does and its errors cite the prototxt.
///
/// What it does is what Caffe does when it loads a net, in the same order:
/// - upgrades old files (`UpgradeNetAsNeeded`): V1 `layers { type: CONVOLUTION }` with
///   `blobs_lr`/`weight_decay`, the net-level `input`/`input_shape`/`input_dim` (an `Input`
///   layer named `input`), and `concat_dim`/`slice_dim` (`axis`);
/// - keeps the layers whose `include`/`exclude` rules admit them (`NetState`), per phase;
/// - gives a loss layer without a top one named after the layer, as Caffe gives it one;
/// - flattens every `*_param` message (and `transform_param`, `loss_param`) into the layer,
///   the way our YAML writes them. `engine` and `force_nd_im2col` choose a Caffe
///   implementation and mean nothing here, so they are dropped; everything else reaches the
///   layer, which rejects what it does not support with the prototxt's line and column.
enum CaffeNetTranslation {
    /// The net as the tree of a YAML net file (`name`, `layers`); `train` and `test` are the
    /// states that choose each phase's layers.
    static func netTree(_ fields: [PrototxtField], file: String, train: NetState = NetState(), test: NetState = NetState(),
                        warnings: inout [String]) throws -> YAMLNode {
        let start = FileLocation(file: file, line: 1, column: 1)
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var layers: [YAMLNode] = []
        var inputs: [PrototxtField] = []
        var states = (train: train, test: test)
        if let own = fields.first(where: { $0.name == "state" }), case .message(let children) = own.value {
            // Caffe merges the file's state first and the solver's (or command line's) over it.
            let fileState = try NetState().merging(children)
            states = (fileState.merged(over: train), fileState.merged(over: test))
        }
        for field in fields {
            switch field.name {
            case "name": pairs.append((scalar("name", at: field.location), value(field.value, at: field.valueLocation)))
            case "layer": if let layer = try layerTree(messageFields(field), at: field.location, states: states, warnings: &warnings) { layers.append(layer) }
            case "layers":
                if let layer = try layerTree(try upgradedV1(messageFields(field), at: field.location), at: field.location, states: states,
                                             warnings: &warnings) {
                    layers.append(layer)
                }
            case "input", "input_shape", "input_dim": inputs.append(field)
            // force_backward: every layer here computes its bottoms' gradients when anything
            // upstream learns, and gradcheck/jvp ask for data gradients themselves.
            case "force_backward", "debug_info", "state": break
            default:
                throw SwiftCaffeError("'\(field.name)' is not supported in a net file here", at: field.location)
            }
        }
        if !inputs.isEmpty { layers.insert(try inputLayer(inputs), at: 0) }
        layers = uniquelyNamed(layers)
        pairs.append((scalar("layers", at: start), YAMLNode(.sequence(layers), at: start)))
        return YAMLNode(.mapping(pairs), at: start)
    }

    // MARK: Layers

    private static func layerTree(_ fields: [PrototxtField], at location: FileLocation, states: (train: NetState, test: NetState),
                                  warnings: inout [String]) throws -> YAMLNode? {
        let type = fields.first { $0.name == "type" }.flatMap { field -> String? in
            if case .scalar(let text, _) = field.value { return text }
            return nil
        }
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var origin: [String: String] = [:]
        var includes: [[PrototxtField]] = [], excludes: [[PrototxtField]] = []
        func add(_ key: String, _ node: YAMLNode, at keyLocation: FileLocation, from message: String) throws {
            if let first = origin[key] {
                throw SwiftCaffeError("'\(key)' is set in both '\(first)' and '\(message)'", at: keyLocation,
                                      hint: "SwiftCaffe's layers read one '\(key)'; keep the one this layer type uses")
            }
            origin[key] = message
            pairs.append((scalar(key, at: keyLocation), node))
        }
        for (name, group) in grouped(fields) {
            let first = group[0]
            switch name {
            case "include": includes += try group.map(messageFields)
            case "exclude": excludes += try group.map(messageFields)
            case "phase": includes.append(group)
            case "blobs":
                throw SwiftCaffeError("a net file with weights inside ('blobs') is not supported", at: first.location,
                                      hint: "keep the weights in a .caffemodel and pass it with --weights")
            case _ where name.hasSuffix("_param") && name != "param":
                if let type, !reads(name, type: type) {
                    // Caffe builds each layer from its own message and never looks at another's.
                    let layerName = fields.first { $0.name == "name" }.flatMap { field -> String? in
                        if case .scalar(let text, _) = field.value { return text }
                        return nil
                    } ?? "?"
                    warnings.append("\(first.location): warning: layer '\(layerName)' (\(type)): '\(name)' is not read by a \(type) layer and is ignored, as Caffe ignores it")
                    continue
                }
                for field in group {
                    for (childName, children) in grouped(try messageFields(field)) where !["engine", "force_nd_im2col"].contains(childName) {
                        let key = childName == "concat_dim" || childName == "slice_dim" ? "axis" : childName
                        try add(key, value(of: children), at: children[0].location, from: name)
                    }
                }
            default:
                try add(name, value(of: group), at: first.location, from: "layer")
            }
        }
        // Caffe gives a loss layer written without a top one of its own (`AutoTopBlobs`); here
        // it is named after the layer.
        if origin["top"] == nil, let type = fields.first(where: { $0.name == "type" }), case .scalar(let typeName, _) = type.value,
           typeName.hasSuffix("Loss"), let name = fields.first(where: { $0.name == "name" }) {
            pairs.append((scalar("top", at: location), value(name.value, at: name.valueLocation)))
        }
        let admitted = try Phase.allCases.filter { phase in
            let state = phase == .train ? states.train : states.test
            return try (includes.isEmpty || includes.contains { try admits($0, phase, state) })
                && !excludes.contains { try admits($0, phase, state) }
        }
        if admitted.isEmpty { return nil }
        if admitted.count == 1 { pairs.append((scalar("phase", at: location), scalar(admitted[0].rawValue, at: location))) }
        return YAMLNode(.mapping(pairs), at: location)
    }

    /// Whether a layer of `type` reads the message `name`: its own `<type>_param`, a loss's
    /// `loss_param`, a data layer's (or an Input's) `transform_param` (DummyData's is ignored,
    /// as Caffe ignores it: pycaffe's NetSpec examples give one). A type SwiftCaffe does
    /// not know reads them all, so that its error is about the type, not the keys.
    static func reads(_ name: String, type: String) -> Bool {
        guard let known = LayerRegistry.type(named: type) else { return true }
        if name == PrototxtWriter.parameterMessage(of: type) { return true }
        if name == "loss_param" { return known.isLoss || type == "Softmax" || type == "Accuracy" }
        if name == "transform_param" { return (type.hasSuffix("Data") && type != "DummyData") || type == "Input" }
        return false
    }

    /// Caffe lets two layers of one net share a name (its autoencoder example has two
    /// `loss` layers); SwiftCaffe names weights and timings by layer, so a repeat in the same
    /// phase becomes `name#2` (`#3`, ...). Caffe matches weights by name too, so a caffemodel
    /// cannot tell such layers apart either.
    private static func uniquelyNamed(_ layers: [YAMLNode]) -> [YAMLNode] {
        var taken: [String: Set<String>] = [:]  // name -> phases ("train", "test") it is used in
        return layers.map { layer in
            guard let pairs = layer.mapping, let index = pairs.firstIndex(where: { $0.key.scalar == "name" }),
                  let name = pairs[index].value.scalar else { return layer }
            let phases: Set<String> = pairs.first { $0.key.scalar == "phase" }?.value.scalar.map { [$0] } ?? ["train", "test"]
            var unique = name, counter = 1
            while !(taken[unique] ?? []).isDisjoint(with: phases) {
                counter += 1
                unique = "\(name)#\(counter)"
            }
            taken[unique, default: []].formUnion(phases)
            guard unique != name else { return layer }
            var renamed = pairs
            renamed[index].value = YAMLNode(.scalar(unique, quoted: true), at: pairs[index].value.location)
            return YAMLNode(.mapping(renamed), at: layer.location)
        }
    }

    /// The layers of a translated net that exist in `phase`, each marked as of that phase only:
    /// how a solver's separate `train_net` and `test_net` become one net.
    static func layers(of tree: YAMLNode, in phase: Phase) -> [YAMLNode] {
        let items = tree.mapping?.first { $0.key.scalar == "layers" }?.value.sequence ?? []
        return items.compactMap { layer in
            guard let pairs = layer.mapping else { return nil }
            if let written = pairs.first(where: { $0.key.scalar == "phase" })?.value.scalar, written != phase.rawValue { return nil }
            let marked = pairs.filter { $0.key.scalar != "phase" } + [(YAMLNode(.scalar("phase", quoted: false), at: layer.location),
                                                                       YAMLNode(.scalar(phase.rawValue, quoted: false), at: layer.location))]
            return YAMLNode(.mapping(marked), at: layer.location)
        }
    }

    /// Caffe's `StateMeetsRule`: every condition the rule states holds in `phase` and `state`.
    private static func admits(_ rule: [PrototxtField], _ phase: Phase, _ state: NetState) throws -> Bool {
        for field in rule {
            switch field.name {
            case "phase": if try strings(field).contains(where: { $0.lowercased() != phase.rawValue }) { return false }
            case "min_level": if state.level < (try integer(field)) { return false }
            case "max_level": if state.level > (try integer(field)) { return false }
            case "stage": if !(try strings(field)).allSatisfy(state.stages.contains) { return false }
            case "not_stage": if (try strings(field)).contains(where: state.stages.contains) { return false }
            default: break
            }
        }
        return true
    }

    // MARK: Upgrades

    /// Caffe's V1 layer type names, as their current spellings.
    private static let v1TypeNames: [String: String] = [
        "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
        "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data", "DECONVOLUTION": "Deconvolution",
        "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp",
        "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
        "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
        "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN", "POOLING": "Pooling",
        "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid", "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
        "SILENCE": "Silence", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
        "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
    ]

    /// A V1 `layers { ... }` entry as the current `layer { ... }` would write it: the type's
    /// name spelled out, and `param` names with `blobs_lr` and `weight_decay` as `param` messages.
    private static func upgradedV1(_ fields: [PrototxtField], at location: FileLocation) throws -> [PrototxtField] {
        var result: [PrototxtField] = []
        var names: [PrototxtField] = [], rates: [PrototxtField] = [], decays: [PrototxtField] = []
        for field in fields {
            switch field.name {
            case "type":
                guard case .scalar(let old, _) = field.value, let type = v1TypeNames[old] else {
                    throw SwiftCaffeError("'\(field.name)' is not a V1 layer type SwiftCaffe knows", at: field.valueLocation)
                }
                var renamed = field
                renamed.value = .scalar(type, quoted: true)
                result.append(renamed)
            case "param": names += try expanded(field)
            case "blobs_lr": rates += try expanded(field)
            case "weight_decay": decays += try expanded(field)
            case "blob_share_mode": break
            default: result.append(field)
            }
        }
        for index in 0..<max(names.count, rates.count, decays.count) {
            var children: [PrototxtField] = []
            if index < names.count { children.append(renamed(names[index], "name")) }
            if index < rates.count { children.append(renamed(rates[index], "lr_mult")) }
            if index < decays.count { children.append(renamed(decays[index], "decay_mult")) }
            result.append(PrototxtField(name: "param", location: children[0].location, valueLocation: children[0].location,
                                        value: .message(children), range: 0..<0))
        }
        return result
    }

    /// The net-level `input: "data"` with `input_shape { dim ... }` or four `input_dim`s each,
    /// as the `Input` layer Caffe makes of them (named `input`, as Caffe names it).
    private static func inputLayer(_ fields: [PrototxtField]) throws -> YAMLNode {
        let location = fields[0].location
        let names = try fields.filter { $0.name == "input" }.flatMap(strings)
        let shapes = fields.filter { $0.name == "input_shape" }
        let dims = try fields.filter { $0.name == "input_dim" }.flatMap(expanded)
        var shapeNodes: [YAMLNode]
        if !shapes.isEmpty {
            shapeNodes = shapes.map { value(of: [$0]) }
        } else {
            guard dims.count == 4 * names.count else {
                throw SwiftCaffeError("\(names.count) input\(names.count == 1 ? "" : "s") but \(dims.count) 'input_dim' values", at: location,
                                      hint: "give four input_dim values (num, channels, height, width) per input, or use input_shape")
            }
            shapeNodes = stride(from: 0, to: dims.count, by: 4).map { start in
                YAMLNode(.sequence(dims[start..<start + 4].map { value($0.value, at: $0.valueLocation) }), at: dims[start].location)
            }
        }
        guard shapeNodes.count == names.count else {
            throw SwiftCaffeError("\(names.count) input\(names.count == 1 ? "" : "s") but \(shapeNodes.count) shapes", at: location,
                                  hint: "give one input_shape per input")
        }
        let tops = YAMLNode(.sequence(names.map { scalar($0, at: location) }), at: location)
        return YAMLNode(.mapping([
            (scalar("name", at: location), scalar("input", at: location)),
            (scalar("type", at: location), scalar("Input", at: location)),
            (scalar("top", at: location), tops),
            (scalar("shape", at: location), shapeNodes.count == 1 ? shapeNodes[0] : YAMLNode(.sequence(shapeNodes), at: location)),
        ]), at: location)
    }

    // MARK: Fields to nodes

    /// Fields by name in first-appearance order: a repeated field is written once per value.
    static func grouped(_ fields: [PrototxtField]) -> [(name: String, fields: [PrototxtField])] {
        var order: [String] = []
        var groups: [String: [PrototxtField]] = [:]
        for field in fields {
            if groups[field.name] == nil { order.append(field.name) }
            groups[field.name, default: []].append(field)
        }
        return order.map { ($0, groups[$0]!) }
    }

    /// The node for one field name's values: one value as itself, several as a list.
    static func value(of group: [PrototxtField]) -> YAMLNode {
        let items = group.flatMap { field -> [YAMLNode] in
            if case .list(let values, let places) = field.value { return zip(values, places).map { value($0, at: $1) } }
            return [value(field.value, at: field.valueLocation)]
        }
        return items.count == 1 ? items[0] : YAMLNode(.sequence(items), at: group[0].valueLocation)
    }

    /// A value as a node. A `BlobShape` (`shape { dim: 1 dim: 3 }`) becomes the list of its
    /// dims, which is how our YAML writes shapes.
    static func value(_ value: PrototxtField.Value, at location: FileLocation) -> YAMLNode {
        switch value {
        case .scalar(let text, let quoted): return YAMLNode(.scalar(text, quoted: quoted), at: location)
        case .list(let values, let places): return YAMLNode(.sequence(zip(values, places).map { Self.value($0, at: $1) }), at: location)
        case .message(let fields):
            if !fields.isEmpty && fields.allSatisfy({ $0.name == "dim" }) {
                return YAMLNode(.sequence(fields.flatMap { field -> [YAMLNode] in
                    if case .list(let values, let places) = field.value { return zip(values, places).map { Self.value($0, at: $1) } }
                    return [Self.value(field.value, at: field.valueLocation)]
                }), at: location)
            }
            let pairs = grouped(fields).map { name, group in (scalar(name, at: group[0].location), Self.value(of: group)) }
            return YAMLNode(.mapping(pairs), at: location)
        }
    }

    private static func scalar(_ text: String, at location: FileLocation) -> YAMLNode {
        YAMLNode(.scalar(text, quoted: false), at: location)
    }

    static func messageFields(_ field: PrototxtField) throws -> [PrototxtField] {
        guard case .message(let children) = field.value else {
            throw SwiftCaffeError("'\(field.name)' expects a message '\(field.name) { ... }'", at: field.valueLocation)
        }
        return children
    }

    /// A field written as `name: [a, b]` as the fields `name: a` and `name: b`.
    private static func expanded(_ field: PrototxtField) throws -> [PrototxtField] {
        guard case .list(let values, let places) = field.value else { return [field] }
        return zip(values, places).map { PrototxtField(name: field.name, location: $1, valueLocation: $1, value: $0, range: 0..<0) }
    }

    private static func renamed(_ field: PrototxtField, _ name: String) -> PrototxtField {
        var copy = field
        copy.name = name
        return copy
    }

    static func strings(_ field: PrototxtField) throws -> [String] {
        try expanded(field).map { item in
            guard case .scalar(let text, _) = item.value else {
                throw SwiftCaffeError("'\(field.name)' expects a value, found a message", at: item.valueLocation)
            }
            return text
        }
    }

    static func integer(_ field: PrototxtField) throws -> Int {
        guard let text = try strings(field).last, let number = Int(wholeText: text) else {
            throw SwiftCaffeError("'\(field.name)' expects a whole number", at: field.valueLocation)
        }
        return number
    }
}

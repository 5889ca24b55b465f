import SwiftCaffeCore

/// Which net a layer belongs to: Caffe's `include { phase: TRAIN }`.
public enum Phase: String, Sendable, CaseIterable {
    case train, test
}

/// Per-parameter settings, Caffe's `param { lr_mult decay_mult name }`.
public struct ParamSpec: Sendable {
    /// Parameters with the same name share one blob (Caffe's weight sharing).
    public var name: String?
    public var lrMult: Float = 1
    public var decayMult: Float = 1
}

/// One layer's entry in a net file: the keys every layer has (name, type, bottom, top, phase,
/// param, loss_weight) plus, through `SpecMapping`, typed access to its own keys with Caffe's
/// `*_param` sub-messages flattened into the mapping.
public final class LayerSpec: SpecMapping, CustomStringConvertible {
    public let name: String
    public let type: String
    public private(set) var bottoms: [String] = []
    public private(set) var tops: [String] = []
    /// nil: the layer is in both phases.
    public private(set) var phase: Phase?
    public private(set) var params: [ParamSpec] = []
    /// Per-top loss weights as written; nil when the file gives none (loss layers then default to 1).
    public private(set) var lossWeights: [Float]?
    /// Caffe's `propagate_down`, per bottom: false stops the gradient into that bottom. Empty
    /// when the file gives none (every bottom gets its gradient).
    public private(set) var propagateDown: [Bool] = []

    public init(_ yaml: YAMLNode, index: Int, baseDirectory: String) throws {
        // Name and type are needed for the owner label of every later message, so peek at them first.
        let peekName = yaml.mapping?.first { $0.key.scalar == "name" }?.value.scalar
        let peekType = yaml.mapping?.first { $0.key.scalar == "type" }?.value.scalar
        name = peekName ?? ""
        type = peekType ?? ""
        let owner = "layer '\(peekName ?? "#\(index + 1)")'" + (peekType.map { " (\($0))" } ?? "")
        try super.init(yaml, owner: owner, baseDirectory: baseDirectory)

        if try string("name").isEmpty { throw error("'name' is empty", hint: "give the layer a unique name") }
        if try string("type").isEmpty { throw error("'type' is empty", hint: "name a layer type such as Convolution") }
        bottoms = try stringList("bottom")
        tops = try stringList("top")
        if let phaseNode = node("phase") {
            guard let text = phaseNode.scalar, let value = Phase(rawValue: text.lowercased()) else {
                throw error("'phase' is \(phaseNode.kindDescription), not train or test", at: phaseNode)
            }
            phase = value
        }
        for item in list("param") {
            let entry = try SpecMapping(item, owner: owner, baseDirectory: baseDirectory)
            params.append(ParamSpec(name: try entry.optionalString("name"),
                                    lrMult: try entry.float("lr_mult", default: 1, in: 0...1e6),
                                    decayMult: try entry.float("decay_mult", default: 1, in: 0...1e6)))
            try entry.rejectUnknownKeys()
        }
        if has("loss_weight") { lossWeights = try floatList("loss_weight") }
        if has("propagate_down") {
            propagateDown = try list("propagate_down").map { item in
                switch item.scalar?.lowercased() {
                case "true", "yes", "on": return true
                case "false", "no", "off": return false
                default: throw error("'propagate_down' expects true or false per bottom, found \(item.kindDescription)", at: item)
                }
            }
            guard propagateDown.count == bottoms.count else {
                throw error("'propagate_down' has \(propagateDown.count) values for \(bottoms.count) bottoms", at: node("propagate_down"),
                            hint: "give one true or false per bottom")
            }
        }
    }

    /// A spec the net makes itself for a layer no file names (an implicit Split), placed at
    /// `location` so that an error in it points at the layer that made it necessary.
    package init(name: String, type: String, bottoms: [String], tops: [String], at location: FileLocation) {
        self.name = name
        self.type = type
        super.init(emptyAt: location, owner: "layer '\(name)' (\(type))")
        self.bottoms = bottoms
        self.tops = tops
    }

    private init(copying other: LayerSpec, bottoms: [String], tops: [String]) {
        name = other.name
        type = other.type
        super.init(copying: other)
        self.bottoms = bottoms
        self.tops = tops
        phase = other.phase
        params = other.params
        lossWeights = other.lossWeights
        propagateDown = other.propagateDown
    }

    /// This spec reading (and writing) other blobs: where a blob feeds several layers, the net
    /// reconnects each reader to its own top of the Split it inserts, and the spec says so too.
    package func rewired(bottoms: [String], tops: [String]? = nil) -> LayerSpec { LayerSpec(copying: self, bottoms: bottoms, tops: tops ?? self.tops) }

    public var description: String { owner ?? name }

    /// Settings of the `index`-th learnable parameter (defaults when the file gives fewer).
    public func param(_ index: Int) -> ParamSpec {
        index < params.count ? params[index] : ParamSpec()
    }

    /// A filler, written as a bare name (`xavier`) or a mapping (`{type: gaussian, std: 0.01}`).
    public func filler(_ key: String, default fallback: FillerSpec) throws -> FillerSpec {
        guard let value = node(key) else { return fallback }
        return try FillerSpec(value, key: key, owner: self)
    }
}

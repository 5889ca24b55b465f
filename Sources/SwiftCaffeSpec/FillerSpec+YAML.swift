import SwiftCaffeCore

extension FillerSpec {
    /// Reads a filler as net files write it: a bare name (`xavier`) or a mapping
    /// (`{type: gaussian, std: 0.01}`), with the keys of Caffe's `FillerParameter`.
    package init(_ node: YAMLNode, key: String, owner: SpecMapping) throws {
        let kinds = Kind.allCases.map(\.rawValue)
        if let name = node.scalar {
            guard let kind = Kind(rawValue: name.lowercased()) else {
                throw owner.error("'\(key)' is '\(name)', not a filler type", at: node,
                                  hint: nearest(name, in: kinds).map { "did you mean '\($0)'?" } ?? "use one of \(kinds.joined(separator: ", "))")
            }
            self.init(kind)
            return
        }
        let mapping = try SpecMapping(node, owner: owner.owner, baseDirectory: owner.baseDirectory)
        self.init(Kind(rawValue: try mapping.choice("type", from: kinds, default: "constant"))!)  // Caffe's default
        value = try mapping.float("value", default: 0)
        min = try mapping.float("min", default: 0)
        max = try mapping.float("max", default: 1)
        mean = try mapping.float("mean", default: 0)
        std = try mapping.float("std", default: 1, in: 0...Float.greatestFiniteMagnitude)
        sparse = try mapping.int("sparse", default: -1, in: -1...Int(Int32.max))
        varianceNorm = VarianceNorm(rawValue: try mapping.choice("variance_norm", from: VarianceNorm.allCases.map(\.rawValue), default: "FAN_IN"))!
        try mapping.rejectUnknownKeys()
        if sparse >= 0 && kind != .gaussian {
            throw owner.error("'\(key)': 'sparse' applies to gaussian fillers only", at: mapping.node("sparse"))
        }
        if kind == .uniform && min > max {
            throw owner.error("'\(key)': min \(min) is above max \(max)", at: node, hint: "swap them")
        }
    }
}

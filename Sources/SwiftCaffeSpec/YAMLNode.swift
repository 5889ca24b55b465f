import SwiftCaffeCore

/// One node of a parsed YAML document with the place it was written, so that every later
/// error (a wrong value, an unknown key) can cite `file:line:column`.
///
/// Nodes are classes so that a YAML alias refers to its anchor's node rather than copying
/// it: an "alias bomb" therefore costs no memory, and the parser bounds how large the
/// document would be if expanded.
public final class YAMLNode {
    public enum Kind {
        /// A scalar and whether it was quoted (a quoted `"12"` is a string, never a number).
        case scalar(String, quoted: Bool)
        case sequence([YAMLNode])
        /// Keys in file order; duplicate keys are rejected by the parser.
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    public let kind: Kind
    public let location: FileLocation

    public init(_ kind: Kind, at location: FileLocation) {
        self.kind = kind
        self.location = location
    }

    public var scalar: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    public var mapping: [(key: YAMLNode, value: YAMLNode)]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    /// A plain (unquoted) scalar that YAML reads as null: empty, `~` or `null`.
    public var isNull: Bool {
        if case .scalar(let text, let quoted) = kind, !quoted { return ["", "~", "null", "Null", "NULL"].contains(text) }
        return false
    }

    /// What kind of value this is, in words, for "expected a number, found a list" messages.
    public var kindDescription: String {
        switch kind {
        case .scalar(let text, _): return "'\(text)'"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

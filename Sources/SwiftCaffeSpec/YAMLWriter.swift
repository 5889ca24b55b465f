
/// Writes a `YAMLNode` tree as a net file a person would write: block mappings at the top,
/// one `- name: ...` entry per layer, and short values (lists of numbers, fillers, `param`
/// entries) in flow style on one line.
public enum YAMLWriter {
    public static func write(_ node: YAMLNode) -> String {
        var output = ""
        block(node, indent: 0, into: &output)
        return output
    }

    /// Whether a value fits on one line in flow style: scalars, and lists or mappings of
    /// scalars (or of such lists) that stay short.
    private static func isFlat(_ node: YAMLNode) -> Bool {
        switch node.kind {
        case .scalar: return true
        case .sequence(let items): return items.allSatisfy { $0.scalar != nil || ($0.sequence?.allSatisfy { $0.scalar != nil } ?? false) } && flow(node).count <= 80
        case .mapping(let pairs): return pairs.allSatisfy { isFlat($0.value) && $0.value.mapping == nil } && flow(node).count <= 80
        }
    }

    private static func block(_ node: YAMLNode, indent: Int, into output: inout String) {
        let pad = String(repeating: " ", count: indent)
        switch node.kind {
        case .mapping(let pairs):
            for (key, value) in pairs {
                let name = scalar(key.scalar ?? "")
                if isFlat(value) {
                    output += "\(pad)\(name): \(flow(value))\n"
                } else {
                    output += "\(pad)\(name):\n"
                    block(value, indent: indent + 2, into: &output)
                }
            }
        case .sequence(let items):
            for item in items {
                if item.mapping != nil && !isFlat(item) {
                    var entry = ""
                    block(item, indent: indent + 2, into: &entry)
                    output += pad + "- " + entry.dropFirst(indent + 2)
                } else {
                    output += "\(pad)- \(flow(item))\n"
                }
            }
        case .scalar:
            output += pad + flow(node) + "\n"
        }
    }

    private static func flow(_ node: YAMLNode) -> String {
        switch node.kind {
        case .scalar(let text, let quoted): return scalar(text, quoted: quoted)
        case .sequence(let items): return "[" + items.map(flow).joined(separator: ", ") + "]"
        case .mapping(let pairs): return "{" + pairs.map { "\(scalar($0.key.scalar ?? "")): \(flow($0.value))" }.joined(separator: ", ") + "}"
        }
    }

    /// A scalar, double-quoted when YAML would read it otherwise: special characters, leading
    /// or trailing spaces, or a quoted string that plain would turn into a number or a boolean.
    private static func scalar(_ text: String, quoted: Bool = false) -> String {
        let special: Set<Character> = [":", "#", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`", "\n", "\t", "\\"]
        let plainMeaning = Int(text) != nil || Double(text) != nil
            || ["true", "false", "yes", "no", "on", "off", "null", "~", ""].contains(text.lowercased())
        let needsQuotes = text.contains(where: special.contains) || text.hasPrefix(" ") || text.hasSuffix(" ") || text.hasPrefix("-")
            || text.hasPrefix("?") || (quoted && plainMeaning) || text.isEmpty
        guard needsQuotes && !(Double(text) != nil && !quoted) else { return text }
        var escaped = ""
        for character in text {
            switch character {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            default: escaped.append(character)
            }
        }
        return "\"\(escaped)\""
    }
}

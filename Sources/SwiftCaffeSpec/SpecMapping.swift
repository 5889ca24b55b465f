import Foundation
import SwiftCaffeCore

/// A YAML mapping read through typed accessors that produce the project's error quality for
/// free: a wrong type, an out-of-range value or a missing key cites `file:line:column`, the
/// owner (e.g. `layer 'conv1' (Convolution)`) and the fix.
///
/// It remembers every key it was asked for. After a layer (built-in or a user's) has read its
/// configuration, `rejectUnknownKeys()` reports any key nobody asked for and suggests the
/// nearest asked-for name, so a layer author never declares or checks keys by hand.
public class SpecMapping {
    public let node: YAMLNode
    /// How errors name the owner of these keys, e.g. `layer 'conv1' (Convolution)`.
    public let owner: String?
    /// The folder relative paths resolve against: the YAML file's folder.
    public let baseDirectory: String
    private let pairs: [(key: YAMLNode, value: YAMLNode)]
    private(set) var askedKeys: [String] = []

    public init(_ node: YAMLNode, owner: String?, baseDirectory: String) throws {
        guard let pairs = node.mapping else {
            throw SwiftCaffeError("expected a mapping of 'key: value' lines, found \(node.kindDescription)",
                                  at: node.location, layer: owner)
        }
        self.node = node
        self.owner = owner
        self.baseDirectory = baseDirectory
        self.pairs = pairs
    }

    /// A mapping with no keys, for specs the framework makes itself (an implicit Split).
    init(emptyAt location: FileLocation, owner: String?) {
        node = YAMLNode(.mapping([]), at: location)
        self.owner = owner
        baseDirectory = ""
        pairs = []
    }

    /// A copy that remembers the keys already asked for, so unknown-key checking carries over.
    init(copying other: SpecMapping) {
        node = other.node
        owner = other.owner
        baseDirectory = other.baseDirectory
        pairs = other.pairs
        askedKeys = other.askedKeys
    }

    public var location: FileLocation { node.location }

    /// All keys written in the file, in order.
    public var writtenKeys: [String] { pairs.compactMap { $0.key.scalar } }

    /// The node for `key`, marking the key as known.
    public func node(_ key: String) -> YAMLNode? {
        if !askedKeys.contains(key) { askedKeys.append(key) }
        guard let value = pairs.first(where: { $0.key.scalar == key })?.value, !value.isNull else { return nil }
        return value
    }

    public func has(_ key: String) -> Bool { node(key) != nil }

    /// An error attributed to this mapping's owner, at `node` (default: the mapping itself).
    public func error(_ message: String, at node: YAMLNode? = nil, hint: String? = nil) -> SwiftCaffeError {
        SwiftCaffeError(message, at: (node ?? self.node).location, layer: owner, hint: hint)
    }

    /// A required key is absent. If an unknown key looks like a typo of it, that typo is the
    /// real problem, so the error points at the typo instead; otherwise the hint is `hint`, or
    /// by default a line to add.
    public func missing(_ key: String, _ what: String, hint: String? = nil) -> SwiftCaffeError {
        for (written, _) in pairs {
            guard let name = written.scalar, !askedKeys.contains(name), nearest(name, in: [key]) != nil else { continue }
            return SwiftCaffeError("unknown key '\(name)'", at: written.location, layer: owner, hint: "did you mean '\(key)'?")
        }
        return error("missing required key '\(key)'", hint: hint ?? "add '\(key): <\(what)>'")
    }

    // MARK: Scalars

    public func int(_ key: String, default fallback: Int? = nil, in range: ClosedRange<Int>? = nil) throws -> Int {
        guard let value = try optionalInt(key, in: range) ?? fallback else { throw missing(key, "whole number") }
        return value
    }

    public func optionalInt(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let value = node(key) else { return nil }
        return try Self.int(value, key: key, in: range, owner: self)
    }

    package static func int(_ value: YAMLNode, key: String, in range: ClosedRange<Int>?, owner: SpecMapping) throws -> Int {
        guard let text = value.scalar, let number = Int(wholeText: text) else {
            throw owner.error("'\(key)' expects a whole number, found \(value.kindDescription)", at: value)
        }
        if let range, !range.contains(number) {
            throw owner.error("'\(key)' is \(number), out of range", at: value, hint: "use a value in \(describe(range))")
        }
        return number
    }

    public func float(_ key: String, default fallback: Float? = nil, in range: ClosedRange<Float>? = nil) throws -> Float {
        guard let value = try optionalFloat(key, in: range) ?? fallback else { throw missing(key, "number") }
        return value
    }

    public func optionalFloat(_ key: String, in range: ClosedRange<Float>? = nil) throws -> Float? {
        guard let value = node(key) else { return nil }
        return try Self.float(value, key: key, in: range, owner: self)
    }

    package static func float(_ value: YAMLNode, key: String, in range: ClosedRange<Float>?, owner: SpecMapping) throws -> Float {
        guard let text = value.scalar, let number = Float(text), number.isFinite else {
            throw owner.error("'\(key)' expects a finite number, found \(value.kindDescription)", at: value)
        }
        if let range, !range.contains(number) {
            throw owner.error("'\(key)' is \(text), out of range", at: value, hint: "use a value in \(describe(range))")
        }
        return number
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = node(key) else { return fallback }
        switch value.scalar?.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("'\(key)' expects true or false, found \(value.kindDescription)", at: value)
        }
    }

    public func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let value = try optionalString(key) ?? fallback else { throw missing(key, "text") }
        return value
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let value = node(key) else { return nil }
        guard let text = value.scalar else { throw error("'\(key)' expects text, found \(value.kindDescription)", at: value) }
        return text
    }

    /// One of a fixed set of names, compared case-insensitively (Caffe writes `MAX`, YAML users `max`).
    /// Returns the spelling from `choices`.
    public func choice(_ key: String, from choices: [String], default fallback: String? = nil) throws -> String {
        guard let value = node(key) else {
            guard let fallback else { throw missing(key, choices.joined(separator: "|")) }
            return fallback
        }
        guard let text = value.scalar else { throw error("'\(key)' expects one of \(choices.joined(separator: ", ")), found \(value.kindDescription)", at: value) }
        if let match = choices.first(where: { $0.lowercased() == text.lowercased() }) { return match }
        throw error("'\(key)' is '\(text)', not one of \(choices.joined(separator: ", "))", at: value,
                    hint: nearest(text, in: choices).map { "did you mean '\($0)'?" })
    }

    /// A path, resolved against the YAML file's folder when relative.
    public func path(_ key: String) throws -> String {
        let text = try string(key)
        return Self.resolve(text, against: baseDirectory)
    }

    package static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") || base.isEmpty { return path }
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }

    // MARK: Lists

    /// A list of values, where a single value also counts as a one-element list (`top: conv1`
    /// and `top: [conv1]` mean the same, as in a prototxt).
    public func list(_ key: String) -> [YAMLNode] {
        guard let value = node(key) else { return [] }
        return value.sequence ?? [value]
    }

    public func stringList(_ key: String) throws -> [String] {
        try list(key).map { item in
            guard let text = item.scalar, !text.isEmpty else {
                throw error("'\(key)' expects names, found \(item.kindDescription)", at: item)
            }
            return text
        }
    }

    public func intList(_ key: String, in range: ClosedRange<Int>? = nil) throws -> [Int] {
        try list(key).map { try Self.int($0, key: key, in: range, owner: self) }
    }

    public func floatList(_ key: String, in range: ClosedRange<Float>? = nil) throws -> [Float] {
        try list(key).map { try Self.float($0, key: key, in: range, owner: self) }
    }

    /// A nested mapping, read with the same owner and the same unknown-key checking.
    public func mapping(_ key: String) throws -> SpecMapping? {
        guard let value = node(key) else { return nil }
        return try SpecMapping(value, owner: owner, baseDirectory: baseDirectory)
    }

    // MARK: Unknown keys

    /// Throws for the first written key that nothing asked for, suggesting the nearest known one.
    public func rejectUnknownKeys() throws {
        for (key, _) in pairs {
            guard let name = key.scalar, !askedKeys.contains(name) else { continue }
            let suggestion = nearest(name, in: askedKeys)
            throw SwiftCaffeError("unknown key '\(name)'", at: key.location, layer: owner,
                                  hint: suggestion.map { "did you mean '\($0)'?" }
                                      ?? "known keys: \(askedKeys.sorted().joined(separator: ", "))")
        }
    }
}

private func describe<T>(_ range: ClosedRange<T>) -> String {
    "[\(range.lowerBound), \(range.upperBound)]"
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
/// Words longer than any name are not typos of one: they are skipped, which also keeps the
/// quadratic distance off a 40 MB scalar.
public func nearest(_ word: String, in candidates: [String]) -> String? {
    guard word.utf8.count <= 64 else { return nil }
    let lowered = word.lowercased()
    var best: (name: String, distance: Int)?
    for candidate in candidates {
        let distance = editDistance(lowered, candidate.lowercased())
        if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
    }
    guard let best, best.distance <= max(2, word.count / 3) else { return nil }
    return best.name
}

/// Levenshtein distance.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

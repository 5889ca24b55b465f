import CYAML
import Foundation
import SwiftCaffeCore
import SwiftCaffeIO

/// Parses one YAML document with libyaml into a `YAMLNode` tree.
///
/// Beyond libyaml's own syntax errors it turns the inputs that commonly trip users or that
/// would hurt the process into clear errors: an empty file, bytes that are not UTF-8, tabs
/// used for indentation (libyaml's message for those is cryptic), several documents in one
/// file, duplicate keys, nesting deeper than `maximumDepth`, and aliases whose expansion
/// would exceed `maximumExpandedNodes` (the "billion laughs" attack).
public enum YAMLParser {
    public static let maximumDepth = 200
    public static let maximumExpandedNodes = 1_000_000

    /// Reads and parses `path`; `displayName` is what error messages call the file.
    public static func parse(fileAt path: String) throws -> YAMLNode {
        try parse([UInt8](try FileChecks.contents(of: path, what: "the net file")), file: path)
    }

    public static func parse(_ text: String, file: String = "<string>") throws -> YAMLNode {
        try parse(Array(text.utf8), file: file)
    }

    public static func parse(_ bytes: [UInt8], file: String) throws -> YAMLNode {
        try checkEncodingAndIndentation(bytes, file: file)
        var builder = TreeBuilder(file: file)
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else { throw SwiftCaffeError("libyaml could not start (out of memory?)") }
        defer { yaml_parser_delete(parser) }

        return try bytes.withUnsafeBufferPointer { buffer -> YAMLNode in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(parser, &event) == 1 else {
                    throw syntaxError(parser.pointee, file: file)
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try builder.handle(event)
            }
            guard let root = builder.root else {
                throw SwiftCaffeError("the file is empty", at: FileLocation(file: file, line: 1, column: 1),
                                      hint: "a net file needs at least a 'layers:' list")
            }
            return root
        }
    }

    private static func syntaxError(_ parser: yaml_parser_t, file: String) -> SwiftCaffeError {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        let mark = parser.problem_mark
        var message = "YAML syntax error: \(problem)"
        if let context = parser.context.map({ String(cString: $0) }) {
            message += " (\(context) at line \(parser.context_mark.line + 1))"
        }
        return SwiftCaffeError(message, at: FileLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1),
                               hint: "check the indentation and the brackets around this point")
    }

    /// Rejects non-UTF-8 bytes and tab indentation before libyaml sees them, citing the spot.
    static func checkEncodingAndIndentation(_ bytes: [UInt8], file: String) throws {
        var line = 1
        var column = 1
        var atLineStart = true
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let length = utf8SequenceLength(bytes, at: index)
            if length == 0 {
                throw SwiftCaffeError(String(format: "invalid UTF-8 byte 0x%02X", byte),
                                      at: FileLocation(file: file, line: line, column: column),
                                      hint: "save the file as UTF-8 text")
            }
            if byte == 0 {
                throw SwiftCaffeError("NUL byte in the file", at: FileLocation(file: file, line: line, column: column),
                                      hint: "this looks like a binary file, not YAML")
            }
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
                atLineStart = true
            } else {
                if byte == UInt8(ascii: "\t") && atLineStart {
                    throw SwiftCaffeError("tab character used for indentation",
                                          at: FileLocation(file: file, line: line, column: column),
                                          hint: "YAML allows only spaces for indentation; replace the tab with spaces")
                }
                if byte != UInt8(ascii: " ") { atLineStart = false }
                column += 1
            }
            index += length
        }
    }

    /// Length of the valid UTF-8 sequence starting at `index`, or 0 if it is invalid.
    private static func utf8SequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        let length: Int
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        for offset in 1..<length where bytes[index + offset] & 0xC0 != 0x80 { return 0 }
        // Overlong and surrogate forms.
        let second = bytes[index + 1]
        if lead == 0xE0 && second < 0xA0 { return 0 }
        if lead == 0xED && second > 0x9F { return 0 }
        if lead == 0xF0 && second < 0x90 { return 0 }
        if lead == 0xF4 && second > 0x8F { return 0 }
        return length
    }
}

/// Assembles nodes from libyaml's event stream with an explicit stack (no recursion, so deep
/// nesting cannot overflow the call stack).
private struct TreeBuilder {
    let file: String
    var root: YAMLNode?
    private var stack: [Frame] = []
    private var anchors: [String: YAMLNode] = [:]
    /// Size of each anchored node with its aliases expanded, and the nodes the aliases so far
    /// stand for: what bounds a document that aliases expand (the nodes written out are bounded
    /// by the file's size).
    private var expandedSize: [ObjectIdentifier: Int] = [:]
    private var aliasedNodes = 0
    private var documents = 0

    private struct Frame {
        var isMapping: Bool
        var location: FileLocation
        var anchor: String?
        var items: [YAMLNode] = []
        var size = 1
    }

    init(file: String) { self.file = file }

    private func location(_ mark: yaml_mark_t) -> FileLocation {
        FileLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    private static func string(_ pointer: UnsafeMutablePointer<UInt8>?) -> String? {
        pointer.map { String(cString: UnsafePointer($0)) }
    }

    mutating func handle(_ event: yaml_event_t) throws {
        let here = location(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw SwiftCaffeError("a second YAML document ('---') in the file", at: here,
                                      hint: "a net file holds one document; remove the '---' line or split the file")
            }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let quoted = scalar.style != YAML_PLAIN_SCALAR_STYLE
            try add(YAMLNode(.scalar(text, quoted: quoted), at: here), size: 1, anchor: Self.string(scalar.anchor))
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw SwiftCaffeError("alias '*\(name)' refers to no anchor defined before it", at: here)
            }
            let size = expandedSize[ObjectIdentifier(target)] ?? 1
            aliasedNodes += size
            if aliasedNodes > YAMLParser.maximumExpandedNodes {
                throw SwiftCaffeError("the aliases in this document expand to more than \(YAMLParser.maximumExpandedNodes) nodes",
                                      at: here, hint: "this looks like an alias bomb; write the values out instead")
            }
            try add(target, size: size, anchor: nil)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            if stack.count >= YAMLParser.maximumDepth {
                throw SwiftCaffeError("nesting deeper than \(YAMLParser.maximumDepth) levels", at: here)
            }
            let anchor = event.type == YAML_SEQUENCE_START_EVENT
                ? Self.string(event.data.sequence_start.anchor) : Self.string(event.data.mapping_start.anchor)
            stack.append(Frame(isMapping: event.type == YAML_MAPPING_START_EVENT, location: here, anchor: anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let node: YAMLNode
            if frame.isMapping {
                var pairs: [(key: YAMLNode, value: YAMLNode)] = []
                var seen: [String: FileLocation] = [:]
                for index in stride(from: 0, to: frame.items.count - 1, by: 2) {
                    let key = frame.items[index]
                    guard let name = key.scalar else {
                        throw SwiftCaffeError("a mapping key must be a plain name, found \(key.kindDescription)", at: key.location)
                    }
                    if let first = seen[name] {
                        throw SwiftCaffeError("duplicate key '\(name)' (first given at line \(first.line))", at: key.location,
                                              hint: "remove one of the two")
                    }
                    seen[name] = key.location
                    pairs.append((key, frame.items[index + 1]))
                }
                node = YAMLNode(.mapping(pairs), at: frame.location)
            } else {
                node = YAMLNode(.sequence(frame.items), at: frame.location)
            }
            try add(node, size: frame.size, anchor: frame.anchor)
        default:
            break
        }
    }

    private mutating func add(_ node: YAMLNode, size: Int, anchor: String?) throws {
        if let anchor {
            anchors[anchor] = node
            expandedSize[ObjectIdentifier(node)] = size
        }
        guard !stack.isEmpty else {
            root = node
            return
        }
        stack[stack.count - 1].items.append(node)
        stack[stack.count - 1].size += size
    }
}

import SwiftCaffe

/// One field of a protobuf text-format file with where it was written: what the prototxt
/// reader turns into the same `YAMLNode` tree a YAML net file gives, so that every later error
/// cites `file:line:column` in the prototxt.
///
/// Decoding and schema checking are swift-protobuf's (`PrototxtReader`); this only knows the
/// text format's shape (`name: value`, `name { ... }`, `name: [a, b]`), because swift-protobuf's
/// text decoder reports no positions. `range` is the field's byte range in the file, which
/// lets the reader ask swift-protobuf about one field at a time to locate a schema error.
struct PrototxtField {
    enum Value {
        /// The scalar's text (escapes resolved) and whether it was a quoted string.
        case scalar(String, quoted: Bool)
        case message([PrototxtField])
        /// `name: [a, b]` or `name: [{...}, {...}]`.
        case list([Value], at: [FileLocation])
    }

    var name: String
    var location: FileLocation
    var valueLocation: FileLocation
    var value: Value
    var range: Range<Int>
}

/// Splits protobuf text format into `PrototxtField`s, rejecting what is not text format with a
/// located message. Nesting is bounded (as swift-protobuf bounds it) so a hostile file cannot
/// exhaust the stack.
struct PrototxtScanner {
    static let maximumDepth = 100

    private let bytes: [UInt8]
    private let file: String
    private var position = 0
    private var line = 1
    private var lineStart = 0

    static func scan(_ bytes: [UInt8], file: String) throws -> [PrototxtField] {
        var scanner = PrototxtScanner(bytes: bytes, file: file)
        let fields = try scanner.fields(depth: 0, closing: nil)
        return fields
    }

    private init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    private var location: FileLocation { FileLocation(file: file, line: line, column: position - lineStart + 1) }

    private func error(_ message: String, at place: FileLocation? = nil, hint: String? = nil) -> SwiftCaffeError {
        SwiftCaffeError(message, at: place ?? location, hint: hint)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func advance() {
        if bytes[position] == UInt8(ascii: "\n") {
            line += 1
            lineStart = position + 1
        }
        position += 1
    }

    /// Skips whitespace and `#` comments.
    private mutating func skipBlank() {
        while let byte = current {
            if byte == UInt8(ascii: "#") {
                while let c = current, c != UInt8(ascii: "\n") { advance() }
            } else if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C {
                advance()
            } else {
                return
            }
        }
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
    }

    private mutating func word() -> String {
        let start = position
        while let byte = current, Self.isWordByte(byte) { advance() }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Fields until `closing` (`}` or `>`), or the end of the file when `closing` is nil.
    private mutating func fields(depth: Int, closing: (byte: UInt8, opener: String, at: FileLocation)?) throws -> [PrototxtField] {
        if depth > Self.maximumDepth {
            throw error("messages are nested more than \(Self.maximumDepth) deep", hint: "a net file nests a few levels; this is not one")
        }
        var result: [PrototxtField] = []
        while true {
            skipBlank()
            guard let byte = current else {
                if let closing {
                    throw error("the file ends inside '\(closing.opener)', opened at line \(closing.at.line)",
                                hint: "add the missing '\(Character(Unicode.Scalar(closing.byte)))'")
                }
                return result
            }
            if let closing, byte == closing.byte {
                advance()
                return result
            }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: ">") {
                throw error("unexpected '\(Character(Unicode.Scalar(byte)))' with no message open", hint: "remove it, or add the '{' it closes")
            }
            result.append(try field(depth: depth))
            skipBlank()
            if current == UInt8(ascii: ";") || current == UInt8(ascii: ",") { advance() }
        }
    }

    private mutating func field(depth: Int) throws -> PrototxtField {
        let start = position
        let nameLocation = location
        guard let first = current, Self.isWordByte(first), !(first >= 0x30 && first <= 0x39) else {
            throw error("expected a field name, found '\(Character(Unicode.Scalar(current ?? 0x3F)))'",
                        hint: "fields are written 'name: value' or 'name { ... }'")
        }
        let name = word()
        skipBlank()
        var sawColon = false
        if current == UInt8(ascii: ":") {
            sawColon = true
            advance()
            skipBlank()
        }
        let valueLocation = location
        let value: PrototxtField.Value
        switch current {
        case UInt8(ascii: "{")?, UInt8(ascii: "<")?:
            value = try message(named: name, depth: depth)
        case UInt8(ascii: "[")? where sawColon:
            value = try list(named: name, depth: depth)
        case _ where sawColon:
            value = try scalar(after: name)
        default:
            throw error("expected ':' or '{' after '\(name)'", at: location,
                        hint: "write '\(name): value' for a value, '\(name) { ... }' for a message")
        }
        return PrototxtField(name: name, location: nameLocation, valueLocation: valueLocation, value: value, range: start..<position)
    }

    private mutating func message(named name: String, depth: Int) throws -> PrototxtField.Value {
        let opened = location
        let closer = current == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: ">")
        advance()
        return .message(try fields(depth: depth + 1, closing: (closer, name, opened)))
    }

    private mutating func list(named name: String, depth: Int) throws -> PrototxtField.Value {
        let opened = location
        advance()
        var items: [PrototxtField.Value] = []
        var places: [FileLocation] = []
        while true {
            skipBlank()
            if current == UInt8(ascii: "]") {
                advance()
                return .list(items, at: places)
            }
            if !items.isEmpty {
                guard current == UInt8(ascii: ",") else {
                    throw error(current == nil ? "the file ends inside the list '\(name)' opened at line \(opened.line)"
                                               : "expected ',' or ']' in the list '\(name)'")
                }
                advance()
                skipBlank()
            }
            places.append(location)
            if current == UInt8(ascii: "{") || current == UInt8(ascii: "<") {
                items.append(try message(named: name, depth: depth))
            } else {
                items.append(try scalar(after: name))
            }
        }
    }

    /// A number, an identifier (enum value, true/false, inf) or one or more adjacent strings.
    private mutating func scalar(after name: String) throws -> PrototxtField.Value {
        guard let byte = current else { throw error("the file ends where the value of '\(name)' should be") }
        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
            var text: [UInt8] = []
            repeat {
                text += try quoted()
                skipBlank()
            } while current == UInt8(ascii: "\"") || current == UInt8(ascii: "'")
            guard let string = String(validating: text, as: UTF8.self) else {
                throw error("the string value of '\(name)' is not UTF-8 text")
            }
            return .scalar(string, quoted: true)
        }
        let text = word()
        if text.isEmpty {
            throw error("expected a value for '\(name)', found '\(Character(Unicode.Scalar(byte)))'",
                        hint: "a value is a number, a name such as MAX, or a \"quoted string\"")
        }
        return .scalar(text, quoted: false)
    }

    /// One quoted string with C escapes resolved, as bytes.
    private mutating func quoted() throws -> [UInt8] {
        let opened = location
        let quote = current!
        advance()
        var text: [UInt8] = []
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n") else {
                throw error("a string opened here is not closed on its line", at: opened, hint: "add the closing \(Character(Unicode.Scalar(quote)))")
            }
            advance()
            if byte == quote { return text }
            guard byte == UInt8(ascii: "\\") else {
                text.append(byte)
                continue
            }
            guard let escaped = current else { continue }
            advance()
            switch escaped {
            case UInt8(ascii: "n"): text.append(0x0A)
            case UInt8(ascii: "t"): text.append(0x09)
            case UInt8(ascii: "r"): text.append(0x0D)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = Int(escaped - 0x30)
                for _ in 0..<2 {
                    guard let digit = current, digit >= 0x30 && digit <= 0x37 else { break }
                    value = value * 8 + Int(digit - 0x30)
                    advance()
                }
                text.append(UInt8(truncatingIfNeeded: value))
            default: text.append(escaped)
            }
        }
    }
}

import Foundation
import SwiftCaffe
import SwiftProtobuf

/// Writes each unquoted value of a prototxt the one way the translation to our net file reads
/// it. Caffe's parser takes more forms, and a file may use them: a hexadecimal integer
/// (`dim: 0x2`), a float with an `f` suffix (`std: 0.01f`), a bool as 0 or 1 (`bias_term:
/// 0`), an enum by its number (`pool: 1`). Which fields are bools and enums is asked of the
/// schema itself, through swift-protobuf, once per field: a bool field decodes `true`; an
/// enum's value of a number is found by decoding it from JSON (which takes enums by number)
/// and writing it back as text.
struct NumberForms<M: SwiftProtobuf.Message> {
    private enum Kind { case bool, enumeration, other }
    private var kinds: [String: Kind] = [:]
    private var names: [String: String?] = [:]

    mutating func normalized(_ fields: [PrototxtField], enclosing: [String]) -> [PrototxtField] {
        fields.map { field in
            var field = field
            switch field.value {
            case .scalar(let text, false): field.value = .scalar(form(text, field: field.name, enclosing: enclosing), quoted: false)
            case .list(let items, let places):
                field.value = .list(items.map { item in
                    if case .scalar(let text, false) = item { return .scalar(form(text, field: field.name, enclosing: enclosing), quoted: false) }
                    if case .message(let children) = item { return .message(normalized(children, enclosing: enclosing + [field.name])) }
                    return item
                }, at: places)
            case .message(let children): field.value = .message(normalized(children, enclosing: enclosing + [field.name]))
            default: break
            }
            return field
        }
    }

    private mutating func form(_ text: String, field: String, enclosing: [String]) -> String {
        var text = text
        let negative = text.hasPrefix("-"), digits = negative ? String(text.dropFirst()) : text
        if digits.lowercased().hasPrefix("0x"), let value = UInt64(digits.dropFirst(2), radix: 16) {
            text = (negative ? "-" : "") + "\(value)"
        }
        if let last = text.last, last == "f" || last == "F", Double(text.dropLast()) != nil { text.removeLast() }
        guard let number = Int32(text) else { return text }
        let key = (enclosing + [field]).joined(separator: "/")
        switch kind(field, enclosing: enclosing, key: key) {
        case .bool: return number == 0 ? "false" : number == 1 ? "true" : text
        case .enumeration: return enumName(number, field: field, enclosing: enclosing, key: key) ?? text
        case .other: return text
        }
    }

    private mutating func kind(_ field: String, enclosing: [String], key: String) -> Kind {
        if let known = kinds[key] { return known }
        let decodes = { (value: String) in (try? M(textFormatString: PrototxtReader.wrapped("\(field): \(value)", in: enclosing))) != nil }
        let found: Kind = decodes("true") ? .bool : decodes("1.5") ? .other : decodes("1") && !decodes("12345678") ? .enumeration : .other
        kinds[key] = found
        return found
    }

    /// The name of enum value `number` of the field; each enclosing message may be repeated (a
    /// JSON list) or not, and every combination is tried for the few levels a net file nests.
    private mutating func enumName(_ number: Int32, field: String, enclosing: [String], key: String) -> String? {
        let cacheKey = key + "=\(number)"
        if let cached = names[cacheKey] { return cached }
        var result: String?
        if enclosing.count <= 6 {
            for repeated in 0..<(1 << enclosing.count) where result == nil {
                var json = "{\"\(field)\": \(number)}"
                for (level, name) in enclosing.enumerated().reversed() {
                    json = "{\"\(name)\": \(repeated & (1 << level) != 0 ? "[\(json)]" : json)}"
                }
                guard let message = try? M(jsonString: json),
                      var level = try? PrototxtScanner.scan(Array(message.textFormatString().utf8), file: "") else { continue }
                for name in enclosing {
                    guard case .message(let children)? = level.first(where: { $0.name == name })?.value else { level = []; break }
                    level = children
                }
                if case .scalar(let name, false)? = level.first(where: { $0.name == field })?.value, Int32(name) == nil { result = name }
            }
        }
        names[cacheKey] = result
        return result
    }
}

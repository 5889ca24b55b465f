import CaffeProto
import Foundation
import SwiftCaffe
import SwiftProtobuf

/// Reads a `.prototxt`: swift-protobuf decodes it against Caffe's schema (the authority on what
/// is a valid file) and `PrototxtScanner` supplies the positions swift-protobuf does not report.
enum PrototxtReader {
    /// The file's fields, after checking that swift-protobuf accepts it as a `M`.
    static func read<M: SwiftProtobuf.Message>(fileAt path: String, as type: M.Type) throws -> [PrototxtField] {
        let (bytes, fields) = try scan(fileAt: path)
        return try check(bytes, fields: fields, file: path, as: type)
    }

    /// The file's bytes and fields, checked only for the text format's syntax (so the caller
    /// can tell a net from a solver before `check`).
    static func scan(fileAt path: String) throws -> (bytes: [UInt8], fields: [PrototxtField]) {
        let bytes = [UInt8](try FileChecks.contents(of: path, what: "the prototxt file"))
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw SwiftCaffeError("the file is not UTF-8 text", at: FileLocation(file: path, line: 1, column: 1),
                                  hint: "is this a binary .caffemodel? Those go to --weights")
        }
        let fields = try PrototxtScanner.scan(bytes, file: path)
        if fields.isEmpty {
            throw SwiftCaffeError("the file is empty", at: FileLocation(file: path, line: 1, column: 1),
                                  hint: "a Caffe net needs at least one 'layer { ... }'")
        }
        return (bytes, fields)
    }

    /// The fields once swift-protobuf decodes them as a `M`; throws, at the offending field,
    /// when it does not. Values are then written the one way the translation reads them,
    /// keeping their place in the file: Caffe's parser (and swift-protobuf's) also takes an enum
    /// by its number (`pool: 1`), a bool as 0 or 1, a float with an `f` suffix and a
    /// hexadecimal integer (`NumberForms`).
    static func check<M: SwiftProtobuf.Message>(_ bytes: [UInt8], fields: [PrototxtField], file: String, as type: M.Type) throws -> [PrototxtField] {
        do {
            _ = try M(textFormatString: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw locate(error, in: fields, bytes: bytes, as: type, enclosing: [])
                ?? SwiftCaffeError("Caffe's schema rejects the file: \(describe(error))", at: FileLocation(file: file, line: 1, column: 1))
        }
        var forms = NumberForms<M>()
        return forms.normalized(fields, enclosing: [])
    }

    /// Finds the field swift-protobuf objects to by decoding one field at a time, wrapped in
    /// its enclosing messages, and descending into the first one that fails.
    private static func locate<M: SwiftProtobuf.Message>(_ failure: Error, in fields: [PrototxtField], bytes: [UInt8], as type: M.Type,
                                                         enclosing: [String]) -> SwiftCaffeError? {
        for field in fields {
            do {
                _ = try M(textFormatString: wrapped(String(decoding: bytes[field.range], as: UTF8.self), in: enclosing))
            } catch {
                if case .message(let children) = field.value,
                   let inner = locate(error, in: children, bytes: bytes, as: type, enclosing: enclosing + [field.name]) {
                    return inner
                }
                return located(error, field: field, enclosing: enclosing)
            }
        }
        return nil
    }

    /// `text` inside the messages `enclosing`, outermost first.
    static func wrapped(_ text: String, in enclosing: [String]) -> String {
        enclosing.map { "\($0) { " }.joined() + text + String(repeating: " }", count: enclosing.count)
    }

    private static func located(_ error: Error, field: PrototxtField, enclosing: [String]) -> SwiftCaffeError {
        let place = enclosing.last.map { " in '\($0)'" } ?? ""
        switch error as? TextFormatDecodingError {
        case .unknownField? where field.name == "ceil_mode":
            // Forks of Caffe (DenseNet's, ResNeXt's) added this; BVLC Caffe says it another way.
            return SwiftCaffeError("Caffe's schema has no field 'ceil_mode'\(place)", at: field.location,
                                   hint: "BVLC Caffe writes 'ceil_mode: false' as 'round_mode: FLOOR' (and true as CEIL, the default)")
        case .unknownField?:
            return SwiftCaffeError("Caffe's schema has no field '\(field.name)'\(place)", at: field.location,
                                   hint: "check the spelling against Caffe's caffe.proto")
        case .unrecognizedEnumValue?:
            return SwiftCaffeError("'\(field.name)'\(place) does not take the value \(describe(field.value))", at: field.valueLocation,
                                   hint: "enum values are written in capitals without quotes, e.g. MAX or TRAIN")
        case .malformedNumber?:
            return SwiftCaffeError("'\(field.name)'\(place) expects a number of another kind, found \(describe(field.value))",
                                   at: field.valueLocation, hint: "sizes are whole numbers without a sign")
        default:
            return SwiftCaffeError("Caffe's schema rejects '\(field.name)'\(place): \(describe(error))", at: field.location,
                                   hint: "compare it with Caffe's caffe.proto")
        }
    }

    private static func describe(_ value: PrototxtField.Value) -> String {
        switch value {
        case .scalar(let text, let quoted): return quoted ? "\"\(text)\"" : text
        case .message: return "a message"
        case .list: return "a list"
        }
    }

    static func describe(_ error: Error) -> String {
        switch error as? TextFormatDecodingError {
        case .malformedText?: return "malformed text"
        case .malformedNumber?: return "a malformed number"
        case .trailingGarbage?: return "text after the end"
        case .truncated?: return "the file ends too early"
        case .missingFieldNames?: return "a required field is missing"
        case .unknownField?: return "an unknown field"
        case .unrecognizedEnumValue?: return "an unknown enum value"
        case .messageDepthLimit?: return "messages nested too deeply"
        default: return "\(error)"
        }
    }
}

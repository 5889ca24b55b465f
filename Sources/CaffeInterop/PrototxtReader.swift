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
        try check(bytes, fields: fields, file: path, as: type)
        return fields
    }

    /// The file's bytes and fields, checked only for the text format's syntax (so the caller
    /// can tell a net from a solver before `check`).
    static func scan(fileAt path: String) throws -> (bytes: [UInt8], fields: [PrototxtField]) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw SwiftCaffeError("'\(path)' is a folder, not a prototxt file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SwiftCaffeError("cannot read '\(path)': no such file or not readable")
        }
        let bytes = [UInt8](data)
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

    /// Throws, at the offending field, unless swift-protobuf decodes the text as a `M`.
    static func check<M: SwiftProtobuf.Message>(_ bytes: [UInt8], fields: [PrototxtField], file: String, as type: M.Type) throws {
        do {
            _ = try M(textFormatString: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw locate(error, in: fields, bytes: bytes, as: type, enclosing: [])
                ?? SwiftCaffeError("Caffe's schema rejects the file: \(describe(error))", at: FileLocation(file: file, line: 1, column: 1))
        }
    }

    /// Finds the field swift-protobuf objects to by decoding one field at a time, wrapped in
    /// its enclosing messages, and descending into the first one that fails.
    private static func locate<M: SwiftProtobuf.Message>(_ failure: Error, in fields: [PrototxtField], bytes: [UInt8], as type: M.Type,
                                                         enclosing: [String]) -> SwiftCaffeError? {
        for field in fields {
            let text = enclosing.map { "\($0) { " }.joined() + String(decoding: bytes[field.range], as: UTF8.self)
                + String(repeating: " }", count: enclosing.count)
            do {
                _ = try M(textFormatString: text)
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

    private static func located(_ error: Error, field: PrototxtField, enclosing: [String]) -> SwiftCaffeError {
        let place = enclosing.last.map { " in '\($0)'" } ?? ""
        switch error as? TextFormatDecodingError {
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

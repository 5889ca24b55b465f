import Foundation
import SwiftCaffe

/// An inference request in KServe's v2 protocol (`POST /v2/models/NAME/infer`), as Triton's
/// clients send it: a JSON object, optionally followed by the binary tensor data extension
/// (the JSON's length in the `Inference-Header-Content-Length` header, then each input that
/// says `"binary_data_size"` as raw little-endian values, in the order of `inputs`).
struct InferenceRequest {
    struct Input {
        var name: String
        var shape: [Int]
        var values: [Float]
    }

    /// An output asked for: as binary data or JSON, and optionally as Triton's classification
    /// extension (the top k classes as "score:index:label" strings).
    struct Output {
        var name: String
        var binary: Bool?
        var classification: Int?
    }

    var id: String?
    var inputs: [Input]
    /// nil when the request names no outputs: then every output the model gives.
    var outputs: [Output]?
    /// `parameters.binary_data_output`: outputs not asked for by name come as binary data.
    var binaryOutput: Bool

    /// The sizes of the numeric types the protocol names; every one is read as Float.
    static let byteSizes: [String: Int] = ["FP32": 4, "FP64": 8, "INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8,
                                            "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8]

    static func decode(_ body: [UInt8], headerLength: Int?) throws -> InferenceRequest {
        let jsonEnd = headerLength ?? body.count
        guard jsonEnd >= 0, jsonEnd <= body.count else {
            throw ServeError.badRequest("Inference-Header-Content-Length is \(headerLength ?? 0), but the body has \(body.count) bytes")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(body[0..<jsonEnd]))
        } catch {
            throw ServeError.badRequest("the request is not valid JSON (\(jsonEnd) bytes\(headerLength == nil ? "" : " before the binary data")): \((error as NSError).localizedDescription)")
        }
        guard let root = object as? [String: Any] else { throw ServeError.badRequest("the request must be a JSON object with 'inputs'") }
        var binary = body[jsonEnd...]

        var request = InferenceRequest(id: nil, inputs: [], outputs: nil, binaryOutput: false)
        if let id = root["id"] {
            guard let text = id as? String else { throw ServeError.badRequest("'id' must be a string") }
            request.id = text
        }
        if let parameters = root["parameters"] {
            guard let map = parameters as? [String: Any] else { throw ServeError.badRequest("'parameters' must be an object") }
            request.binaryOutput = try bool(map["binary_data_output"], "parameters.binary_data_output") ?? false
        }
        guard let inputs = root["inputs"] as? [Any], !inputs.isEmpty else {
            throw ServeError.badRequest("'inputs' must be a non-empty list of tensors ({\"name\", \"shape\", \"datatype\", \"data\"})")
        }
        for (index, item) in inputs.enumerated() {
            let field = "inputs[\(index)]"
            guard let tensor = item as? [String: Any] else { throw ServeError.badRequest("\(field) must be an object") }
            guard let name = tensor["name"] as? String else { throw ServeError.badRequest("\(field).name is missing or not a string") }
            let shape = try shapeField(tensor["shape"], "\(field).shape")
            guard let datatype = tensor["datatype"] as? String else { throw ServeError.badRequest("\(field).datatype is missing or not a string") }
            guard let size = byteSizes[datatype] else {
                throw ServeError.badRequest("\(field).datatype is '\(datatype)'; this server takes the numeric types \(byteSizes.keys.sorted().joined(separator: ", ")) (FP32 is what the net computes in)")
            }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow, product <= 1 << 31 else { throw ServeError.badRequest("\(field).shape \(shape) holds too many values") }
                count = product
            }
            var values: [Float]
            let parameters = tensor["parameters"] as? [String: Any] ?? [:]
            if let sizeValue = parameters["binary_data_size"] {
                guard let number = sizeValue as? NSNumber, !isBoolean(number), let byteCount = Int(exactly: number.doubleValue), byteCount >= 0 else { throw ServeError.badRequest("\(field).parameters.binary_data_size must be a whole number") }
                guard tensor["data"] == nil else { throw ServeError.badRequest("\(field) has both 'data' and binary_data_size; send one") }
                guard byteCount == count * size else {
                    throw ServeError.badRequest("\(field).parameters.binary_data_size is \(byteCount) bytes, but shape \(shape) of \(datatype) needs \(count * size)")
                }
                guard binary.count >= byteCount else {
                    throw ServeError.badRequest("\(field) needs \(byteCount) bytes of binary data, but only \(binary.count) are left in the body")
                }
                values = decodeBinary(binary.prefix(byteCount), datatype: datatype, count: count)
                binary = binary.dropFirst(byteCount)
            } else {
                guard let data = tensor["data"] else { throw ServeError.badRequest("\(field) has no 'data' (nor parameters.binary_data_size)") }
                values = []
                values.reserveCapacity(count)
                try flatten(data, into: &values, field: "\(field).data", limit: count)
                guard values.count == count else {
                    throw ServeError.badRequest("\(field).data holds \(values.count) values, but shape \(shape) needs \(count)")
                }
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw ServeError.badRequest("\(field).data[\(bad)] is \(values[bad]), which the net cannot take (NaN, infinite, or beyond Float's range)")
            }
            request.inputs.append(Input(name: name, shape: shape, values: values))
        }
        guard binary.isEmpty else {
            throw ServeError.badRequest("the body has \(binary.count) bytes after the inputs' binary data that no input claims (check binary_data_size)")
        }
        if let outputs = root["outputs"] {
            guard let list = outputs as? [Any] else { throw ServeError.badRequest("'outputs' must be a list") }
            request.outputs = try list.enumerated().map { index, item in
                let field = "outputs[\(index)]"
                guard let map = item as? [String: Any], let name = map["name"] as? String else { throw ServeError.badRequest("\(field) must be an object with a 'name'") }
                let parameters = map["parameters"] as? [String: Any] ?? [:]
                var classification: Int?
                if let k = parameters["classification"] {
                    guard let number = k as? NSNumber, !isBoolean(number), let count = Int(exactly: number.doubleValue), count >= 1 else { throw ServeError.badRequest("\(field).parameters.classification must be a whole number ≥ 1") }
                    classification = count
                }
                return Output(name: name, binary: try bool(parameters["binary_data"], "\(field).parameters.binary_data"), classification: classification)
            }
        }
        return request
    }

    private static func bool(_ value: Any?, _ field: String) throws -> Bool? {
        guard let value else { return nil }
        guard let number = value as? NSNumber, isBoolean(number) else {
            throw ServeError.badRequest("\(field) must be true or false")
        }
        return number.boolValue
    }

    /// Whether Foundation read the JSON literal true or false (it gives NSNumbers for both
    /// numbers and booleans; a boolean's type code is a char).
    private static func isBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    private static func shapeField(_ value: Any?, _ field: String) throws -> [Int] {
        guard let list = value as? [Any], !list.isEmpty, list.count <= 8 else { throw ServeError.badRequest("\(field) must be a list of 1 to 8 sizes") }
        return try list.map {
            guard let number = $0 as? NSNumber, !isBoolean(number), let size = Int(exactly: number.doubleValue), size >= 0 else {
                throw ServeError.badRequest("\(field) must hold whole numbers ≥ 0, found \($0)")
            }
            return size
        }
    }

    /// JSON numbers, flat or nested in row-major lists, appended to `values`.
    private static func flatten(_ value: Any, into values: inout [Float], field: String, limit: Int) throws {
        if let list = value as? [Any] {
            for item in list {
                try flatten(item, into: &values, field: field, limit: limit)
                if values.count > limit { return }
            }
        } else if let number = value as? NSNumber, !isBoolean(number) {
            values.append(number.floatValue)
        } else {
            throw ServeError.badRequest("\(field) must hold numbers, found \(type(of: value) == String.self ? "the string '\(String(describing: value).prefix(40))'" : "\(value)")")
        }
    }

    private static func decodeBinary(_ bytes: ArraySlice<UInt8>, datatype: String, count: Int) -> [Float] {
        bytes.withUnsafeBytes { raw -> [Float] in
            func read<T>(_: T.Type, _ convert: (T) -> Float) -> [Float] {
                (0..<count).map { convert(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
            }
            switch datatype {
            case "FP32": return read(UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
            case "FP64": return read(UInt64.self) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
            case "INT8": return read(Int8.self) { Float($0) }
            case "UINT8": return read(UInt8.self) { Float($0) }
            case "INT16": return read(Int16.self) { Float(Int16(littleEndian: $0)) }
            case "UINT16": return read(UInt16.self) { Float(UInt16(littleEndian: $0)) }
            case "INT32": return read(Int32.self) { Float(Int32(littleEndian: $0)) }
            case "UINT32": return read(UInt32.self) { Float(UInt32(littleEndian: $0)) }
            case "INT64": return read(Int64.self) { Float(Int64(littleEndian: $0)) }
            default: return read(UInt64.self) { Float(UInt64(littleEndian: $0)) }
            }
        }
    }
}

/// An inference response: JSON, with binary outputs after it when any were asked for (their
/// sizes in each output's `parameters.binary_data_size`, the JSON's length in the
/// `Inference-Header-Content-Length` header).
struct InferenceResponse {
    enum Contents {
        case values(Safetensors.Tensor)
        /// Triton's classification extension: k strings a sample, "score:index" or "score:index:label".
        case classes([String], shape: [Int])
    }

    struct Output {
        var name: String
        var contents: Contents
        var binary: Bool
    }

    var model: String
    var version: Int
    var id: String?
    var outputs: [Output]

    /// The body, and the JSON's length when binary data follows it.
    func encode() -> (body: [UInt8], headerLength: Int?) {
        var json = "{\"model_name\":\(JSONText.string(model)),\"model_version\":\"\(version)\""
        if let id { json += ",\"id\":\(JSONText.string(id))" }
        json += ",\"outputs\":["
        var binary: [UInt8] = []
        for (index, output) in outputs.enumerated() {
            if index > 0 { json += "," }
            json += "{\"name\":\(JSONText.string(output.name))"
            switch output.contents {
            case .values(let tensor):
                json += ",\"datatype\":\"FP32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))]"
                if output.binary {
                    let start = binary.count
                    for value in tensor.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { binary += $0 } }
                    json += ",\"parameters\":{\"binary_data_size\":\(binary.count - start)}"
                } else {
                    json += ",\"data\":[\(tensor.values.map(JSONText.number).joined(separator: ","))]"
                }
            case .classes(let strings, let shape):
                json += ",\"datatype\":\"BYTES\",\"shape\":[\(shape.map(String.init).joined(separator: ","))]"
                if output.binary {
                    let start = binary.count
                    for string in strings {
                        withUnsafeBytes(of: UInt32(string.utf8.count).littleEndian) { binary += $0 }
                        binary += Array(string.utf8)
                    }
                    json += ",\"parameters\":{\"binary_data_size\":\(binary.count - start)}"
                } else {
                    json += ",\"data\":[\(strings.map(JSONText.string).joined(separator: ","))]"
                }
            }
            json += "}"
        }
        json += "]}"
        let header = Array(json.utf8)
        return binary.isEmpty ? (header, nil) : (header + binary, header.count)
    }

    /// The top `k` classes of each sample of `scores` (samples along the first axis), as
    /// Triton writes them: "score:index:label", or "score:index" without class names.
    static func classes(of scores: Safetensors.Tensor, top k: Int, names: [String]) -> Contents {
        let samples = scores.shape.first ?? 1, classes = scores.values.count / max(samples, 1), kept = min(k, classes)
        var strings: [String] = []
        for sample in 0..<samples {
            let row = scores.values[(sample * classes)..<((sample + 1) * classes)]
            let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(kept)
            for index in order {
                let label = index - sample * classes
                strings.append("\(row[index]):\(label)" + (label < names.count ? ":\(names[label])" : ""))
            }
        }
        return .classes(strings, shape: [samples, kept])
    }
}

/// JSON text for the few values the server writes by hand (building the text directly is
/// several times faster than JSONSerialization for a response of many floats).
enum JSONText {
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A finite float in the shortest form that reads back to the same value.
    static func number(_ value: Float) -> String { value.isFinite ? "\(value)" : "null" }

    /// A JSON value from Foundation types (metadata and errors, never large).
    static func encode(_ value: Any) -> [UInt8] {
        (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init) ?? Array("{}".utf8)
    }
}

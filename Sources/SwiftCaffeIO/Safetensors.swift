import Foundation
import SwiftCaffeCore

/// Reads and writes the safetensors format, so numpy and PyTorch users can open our weights:
/// an 8-byte little-endian header length, a JSON header mapping each tensor name to its
/// dtype, shape and byte range, then the raw little-endian data.
/// It knows tensors, not nets: `Net/NetWeights.swift` maps them to parameters by name.
public enum Safetensors {
    /// A Float32 array and its shape; every tensor file reads into these.
    public struct Tensor: Equatable, Sendable {
        public var shape: [Int]
        public var values: [Float]

        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    public static func encode(_ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)],
                              metadata: [String: String] = [:]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for tensor in tensors {
            let size = tensor.values.count * 4
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: json)
        for tensor in tensors {
            for value in tensor.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        return bytes
    }

    /// Calls `body` with `tensors` as the buffers `encode` (and `CaffeModel.encode`) take,
    /// each valid for the call (one nested access per tensor).
    public static func withBuffers<T>(_ tensors: [(name: String, tensor: Tensor)],
                                      _ body: ([(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)]) throws -> T) rethrows -> T {
        func nest(_ index: Int, _ collected: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)]) throws -> T {
            guard index < tensors.count else { return try body(collected) }
            return try tensors[index].tensor.values.withUnsafeBufferPointer { buffer in
                try nest(index + 1, collected + [(tensors[index].name, tensors[index].tensor.shape, buffer)])
            }
        }
        return try nest(0, [])
    }

    /// Parses a safetensors file; anything truncated, foreign or inconsistent is an error
    /// naming the file, never a crash.
    public static func read(path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        // The file's bytes, their copy as an array, and the tensors decoded from them.
        try MemoryBudget.require(toRead: path, copies: 3, for: "reading '\(path)'")
        return try decode([UInt8](try FileChecks.contents(of: path, what: "the weights file")), file: path)
    }

    public static func decode(_ bytes: [UInt8], file: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        func bad(_ why: String) -> SwiftCaffeError {
            SwiftCaffeError("'\(file)' is not a valid safetensors file: \(why)", hint: "pass a .safetensors file written by 'swiftcaffe train'")
        }
        guard bytes.count >= 8 else { throw bad("it is only \(bytes.count) bytes long") }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(bytes.count - 8) else { throw bad("the header claims \(headerLength) bytes, more than the file holds (truncated?)") }
        let dataStart = 8 + Int(headerLength)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart])), let header = object as? [String: Any] else {
            throw bad("the header is not a JSON object")
        }
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        let payload = bytes.count - dataStart
        for (name, entry) in header {
            if name == "__metadata__" {
                metadata = (entry as? [String: String]) ?? [:]
                continue
            }
            guard let fields = entry as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int], offsets.count == 2 else {
                throw bad("tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard dtype == "F32" else { throw bad("tensor '\(name)' is \(dtype); SwiftCaffe reads F32 only") }
            guard let count = checkedCount(shape) else { throw bad("tensor '\(name)' has a bad shape \(shape)") }
            // Each offset is checked against the payload before any arithmetic, so numbers near
            // ±2⁶³ in a damaged header cannot overflow.
            let (start, end) = (offsets[0], offsets[1])
            guard (0...payload).contains(start), (start...payload).contains(end), end - start == count * 4 else {
                throw bad("tensor '\(name)' has byte range \(offsets) for \(count) values in \(payload) data bytes (truncated?)")
            }
            var values = [Float](repeating: 0, count: count)
            let base = dataStart + start
            for i in 0..<count {
                let p = base + 4 * i
                let bits = UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
                values[i] = Float(bitPattern: bits)
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        return (tensors, metadata)
    }
}

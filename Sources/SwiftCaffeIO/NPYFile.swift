import Foundation
import SwiftCaffeCore

/// numpy's `.npy` format for one array: magic, a version, a Python-literal header padded to
/// a multiple of 64 bytes, then the values. Written as little-endian float32 (version 1.0,
/// or 2.0 when the header outgrows 1.0's 16-bit length); read from float32 or float64, little
/// or big endian, C order, so arrays from numpy go wherever a tensor file goes.
public enum NPYFile {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// `.npy` among the tensor files: one tensor, named by the file's stem.
    static let format = TensorFileFormat(
        name: "numpy .npy", extensions: ["npy"],
        recognizes: { Array($0.prefix(6)) == magic },
        read: { path in
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            return TensorFile(tensors: [(name, try read(path: path))])
        },
        write: { file, path in
            guard file.tensors.count == 1 else {
                throw SwiftCaffeError("a .npy file holds one array; '\(path)' would get \(file.tensors.count)", hint: "write a .safetensors file")
            }
            try AtomicFile.write(encode(file.tensors[0].tensor), to: path)
        })

    public static func encode(_ tensor: Safetensors.Tensor) -> [UInt8] {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // Version 1.0 stores the header length in 2 bytes, 2.0 in 4 (for a shape of many axes).
        let long = 10 + header.utf8.count + 1 > 65_535
        let prefix = long ? 12 : 10
        let unpadded = prefix + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = magic + [long ? 2 : 1, 0]
        let length = header.utf8.count
        bytes += long ? (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } : [UInt8(length & 0xFF), UInt8(length >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + tensor.values.count * 4)
        for value in tensor.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        return bytes
    }

    public static func read(path: String) throws -> Safetensors.Tensor {
        try MemoryBudget.require(toRead: path, copies: 3, for: "reading '\(path)'")
        return try decode([UInt8](try FileChecks.contents(of: path)), file: path)
    }

    public static func decode(_ bytes: [UInt8], file: String) throws -> Safetensors.Tensor {
        func bad(_ why: String) -> SwiftCaffeError {
            SwiftCaffeError("'\(file)' is not a .npy array SwiftCaffe reads: \(why)", hint: "save it with numpy.save(path, array.astype('float32'))")
        }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw bad("it does not start with numpy's magic bytes") }
        let version = bytes[6]
        guard (1...3).contains(version) else { throw bad("it is format version \(version)") }
        let lengthBytes = version == 1 ? 2 : 4
        guard bytes.count >= 8 + lengthBytes else { throw bad("it ends inside its header") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let start = 8 + lengthBytes
        guard headerLength <= bytes.count - start else { throw bad("its header claims \(headerLength) bytes, more than the file holds") }
        let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let range = header.range(of: "'\(key)':") else { return nil }
            return String(header[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr"), let quote = descr.first, quote == "'" || quote == "\"",
              let end = descr.dropFirst().firstIndex(of: quote) else { throw bad("its header has no 'descr'") }
        let dtype = String(descr[descr.index(after: descr.startIndex)..<end])
        guard ["<f4", "<f8", ">f4", ">f8", "|f4", "=f4", "=f8"].contains(dtype) else {
            throw bad("its values are '\(dtype)'; SwiftCaffe reads float32 and float64")
        }
        guard let order = field("fortran_order"), order.hasPrefix("False") else { throw bad("it is in Fortran order") }
        guard let shapeText = field("shape"), shapeText.first == "(", let close = shapeText.firstIndex(of: ")") else {
            throw bad("its header has no 'shape'")
        }
        let parts = shapeText[shapeText.index(after: shapeText.startIndex)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = parts.map { Int($0) ?? -1 }
        guard shape.allSatisfy({ $0 >= 0 }), let count = checkedCount(shape) else { throw bad("its shape (\(parts.joined(separator: ", "))) is not a valid size") }
        let width = dtype.hasSuffix("8") ? 8 : 4
        let dataStart = start + headerLength
        guard bytes.count - dataStart == count * width else {
            throw bad("its shape needs \(count * width) bytes of values, the file has \(bytes.count - dataStart) (truncated?)")
        }
        let bigEndian = dtype.hasPrefix(">")
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let p = dataStart + i * width
            var bits: UInt64 = 0
            for b in 0..<width { bits |= UInt64(bytes[p + (bigEndian ? width - 1 - b : b)]) << (8 * UInt64(b)) }
            values[i] = width == 4 ? Float(bitPattern: UInt32(truncatingIfNeeded: bits)) : Float(Double(bitPattern: bits))
        }
        return Safetensors.Tensor(shape: shape, values: values)
    }
}

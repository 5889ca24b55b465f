import SwiftCaffeCore

/// The fields of a serialized protobuf message, read from the wire without decoding it: each
/// field's number and, for a length-delimited field, its bytes. A caffemodel is one
/// `NetParameter` whose repeated `layer` field may hold millions of entries; decoding it whole
/// builds every one of them at once (a 15 MB file of empty layers took 750 times its size), so
/// `CaffeModel` walks the layers here and decodes only the blobs it keeps. ONNX models are
/// read the same way (`ONNXGraph`).
public struct ProtobufWire {
    public enum Value {
        case varint(UInt64)
        case fixed(UInt64)
        case bytes(Range<Int>)
    }

    public let bytes: [UInt8]
    public let file: String
    /// What the file should be, for errors ("a Caffe model"), and how to get one.
    public let kind: String
    public let hint: String

    public init(bytes: [UInt8], file: String, kind: String, hint: String) {
        self.bytes = bytes
        self.file = file
        self.kind = kind
        self.hint = hint
    }

    /// Calls `body` with each field of the message in `range`, in order. Throws for a field
    /// that runs past the end or a wire type protobuf does not have (groups included: Caffe's
    /// schema uses none).
    public func forEachField(in range: Range<Int>, _ body: (_ number: Int, _ value: Value) throws -> Void) throws {
        var position = range.lowerBound
        func damaged(_ why: String) -> SwiftCaffeError {
            SwiftCaffeError("'\(file)' is not \(kind): \(why) at byte \(position)", hint: hint)
        }
        func varint() throws -> UInt64 {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard position < range.upperBound else { throw damaged("a number runs past the end") }
                let byte = bytes[position]
                position += 1
                value |= UInt64(byte & 0x7F) << UInt64(shift)
                if byte & 0x80 == 0 { return value }
            }
            throw damaged("a number is longer than 10 bytes")
        }
        while position < range.upperBound {
            let key = try varint()
            let number = Int(key >> 3)
            guard number > 0, number < 1 << 29 else { throw damaged("a field number is \(number)") }
            switch key & 7 {
            case 0: try body(number, .varint(try varint()))
            case 1, 5:
                let width = key & 7 == 1 ? 8 : 4
                guard range.upperBound - position >= width else { throw damaged("a field runs past the end") }
                let value = (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[position + $1]) << (8 * UInt64($1)) }
                position += width
                try body(number, .fixed(value))
            case 2:
                let length = try varint()
                guard length <= UInt64(range.upperBound - position) else { throw damaged("a field of \(length) bytes runs past the end") }
                let start = position
                position += Int(length)
                try body(number, .bytes(start..<position))
            default:
                throw damaged("wire type \(key & 7) is not one protobuf messages use")
            }
        }
    }
}

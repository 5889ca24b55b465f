/// An IDX file (the MNIST format): a big-endian header of magic number, dimension sizes, then
/// unsigned bytes. Only the unsigned-byte type (0x08) is used by MNIST-style data sets.
public struct IDXFile: Sendable {
    public var dimensions: [Int]
    /// The whole file; the values start at `valuesOffset` (kept in place rather than copied,
    /// which would briefly hold the data set twice).
    public var storage: [UInt8]
    public var valuesOffset: Int

    /// The values, in file order.
    public var bytes: ArraySlice<UInt8> { storage[valuesOffset...] }

    static let empty = IDXFile(dimensions: [0], storage: [], valuesOffset: 0)

    init(dimensions: [Int], storage: [UInt8], valuesOffset: Int) {
        self.dimensions = dimensions
        self.storage = storage
        self.valuesOffset = valuesOffset
    }

    public init(path: String) throws {
        let raw = try readPossiblyCompressedFile(path)
        guard raw.count >= 4, raw[0] == 0, raw[1] == 0 else {
            throw SwiftCaffeError("'\(path)' is not an IDX file (bad magic number)",
                                  hint: "expected MNIST-format files such as train-images-idx3-ubyte.gz")
        }
        guard raw[2] == 0x08 else {
            throw SwiftCaffeError("'\(path)' holds IDX type 0x\(String(raw[2], radix: 16)), not unsigned bytes (0x08)")
        }
        let rank = Int(raw[3])
        guard rank >= 1, raw.count >= 4 + 4 * rank else {
            throw SwiftCaffeError("'\(path)' has a truncated IDX header")
        }
        dimensions = (0..<rank).map { d in
            (0..<4).reduce(0) { $0 << 8 | Int(raw[4 + 4 * d + $1]) }
        }
        guard let expected = checkedCount(dimensions) else {
            throw SwiftCaffeError("'\(path)' declares dimensions \(dimensions), too large to be real", hint: "the header is damaged")
        }
        let payload = raw.count - 4 - 4 * rank
        guard payload == expected else {
            throw SwiftCaffeError("'\(path)' should hold \(expected) values for shape \(dimensions) but holds \(payload)",
                                  hint: payload < expected ? "the file is truncated" : "the file has trailing bytes")
        }
        storage = raw
        valuesOffset = 4 + 4 * rank
    }
}

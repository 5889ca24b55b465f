import SwiftCaffeCore

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

    package static let empty = IDXFile(dimensions: [0], storage: [], valuesOffset: 0)

    init(dimensions: [Int], storage: [UInt8], valuesOffset: Int) {
        self.dimensions = dimensions
        self.storage = storage
        self.valuesOffset = valuesOffset
    }

    /// Reads the header first and then exactly the values it announces, so a damaged or hostile
    /// header is an error before anything large is allocated: its size must be one the file
    /// can hold (`GzipReader.maximumContentSize`) and fit in memory (`MemoryBudget`).
    public init(path: String) throws {
        let reader = try GzipReader(path: path)
        let magic = try reader.read(count: 4)
        guard magic[0] == 0, magic[1] == 0 else {
            throw SwiftCaffeError("'\(path)' is not an IDX file (bad magic number)",
                                  hint: "expected MNIST-format files such as train-images-idx3-ubyte.gz")
        }
        guard magic[2] == 0x08 else {
            throw SwiftCaffeError("'\(path)' holds IDX type 0x\(String(magic[2], radix: 16)), not unsigned bytes (0x08)")
        }
        let rank = Int(magic[3])
        guard rank >= 1 else { throw SwiftCaffeError("'\(path)' has an IDX header of rank 0") }
        let sizes = try reader.read(count: 4 * rank)
        dimensions = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(sizes[4 * d + $1]) } }
        let headerSize = 4 + 4 * rank
        guard let expected = checkedCount(dimensions) else {
            throw SwiftCaffeError("'\(path)' declares dimensions \(dimensions), too large to be real", hint: "the header is damaged")
        }
        guard expected <= reader.maximumContentSize - headerSize else {
            throw SwiftCaffeError("'\(path)' declares dimensions \(dimensions) (\(expected) values), more than its \(reader.fileSize) bytes can hold",
                                  hint: reader.isCompressed ? "the header is damaged" : "the file is truncated, or its header damaged")
        }
        let (available, bound) = MemoryBudget.available()
        guard expected + headerSize <= available else {
            throw SwiftCaffeError("'\(path)' holds \(humanBytes(expected)) of values, but the process can take only \(humanBytes(available)) more (\(bound))",
                                  hint: "use a smaller data set, or allow more memory (--memory-limit, ulimit -v)")
        }
        var storage = [UInt8](repeating: 0, count: headerSize + expected)
        storage.replaceSubrange(0..<4, with: magic)
        storage.replaceSubrange(4..<headerSize, with: sizes)
        try storage.withUnsafeMutableBytes { try reader.read(into: $0.baseAddress! + headerSize, count: expected) }
        guard try reader.isAtEnd() else {
            throw SwiftCaffeError("'\(path)' has bytes after the \(expected) values of shape \(dimensions)", hint: "the file has trailing bytes; is it the right file?")
        }
        self.storage = storage
        valuesOffset = headerSize
    }
}

import CZlib
import Foundation

/// Reads a whole file, transparently decompressing gzip (zlib reads plain files unchanged).
/// A truncated or corrupt `.gz` is an error that names the file, never a short read.
public func readPossiblyCompressedFile(_ path: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw SwiftCaffeError("no such file '\(path)'")
    }
    if isDirectory.boolValue { throw SwiftCaffeError("'\(path)' is a folder, not a file") }
    guard let file = gzopen(path, "rb") else { throw SwiftCaffeError("cannot open '\(path)'") }
    defer { gzclose(file) }
    gzbuffer(file, 1 << 20)
    var result: [UInt8] = []
    // Reserve the final size up front so that a large data set is not copied while the array
    // grows (that doubled the peak memory of loading Fashion-MNIST).
    if let size = expectedSize(path) { result.reserveCapacity(size) }
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if read < 0 {
            var code: Int32 = 0
            let message = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
            throw SwiftCaffeError("cannot read '\(path)': \(message)", hint: "the file is damaged or truncated; reinstall or re-download it")
        }
        if read == 0 { break }
        result.append(contentsOf: chunk[0..<Int(read)])
    }
    // gzread reports a truncated stream as a clean end on some zlib versions; gzerror tells.
    var code: Int32 = 0
    let message = gzerror(file, &code).map { String(cString: $0) } ?? ""
    if code != Z_OK && code != Z_STREAM_END {
        throw SwiftCaffeError("cannot read '\(path)': \(message)", hint: "the file is damaged or truncated; reinstall or re-download it")
    }
    return result
}

/// The uncompressed size of a file: gzip's trailer records it (modulo 2³²) in its last four
/// bytes; a plain file's size is its own. Only a hint for reserving memory.
private func expectedSize(_ path: String) -> Int? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    guard let magic = try? handle.read(upToCount: 2), let end = try? handle.seekToEnd() else { return nil }
    guard magic == Data([0x1F, 0x8B]) else { return Int(end) }
    guard end >= 18, (try? handle.seek(toOffset: end - 4)) != nil, let trailer = try? handle.read(upToCount: 4), trailer.count == 4 else { return nil }
    let size = trailer.reversed().reduce(0) { $0 << 8 | Int($1) }
    return size < 1 << 31 ? size : nil
}

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

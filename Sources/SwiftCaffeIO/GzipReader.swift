import CZlib
import Foundation
import SwiftCaffeCore

/// Reads a file as a stream, transparently decompressing gzip (zlib passes plain files
/// through unchanged), so that a caller can check a header before it decides how much more to
/// read. Nothing is inflated beyond what the caller asks for: a small `.gz` that would grow to
/// gigabytes (a gzip bomb) costs only the bytes its header justifies. A truncated or corrupt
/// stream is an error naming the file, never a short read.
final class GzipReader {
    let path: String
    /// The file's size on disk.
    let fileSize: Int
    /// Whether the file is gzip (its first two bytes are 1f 8b).
    let isCompressed: Bool
    private let file: gzFile

    init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SwiftCaffeError("no such file '\(path)'")
        }
        if isDirectory.boolValue { throw SwiftCaffeError("'\(path)' is a folder, not a file") }
        try FileChecks.requireRegularFile(path)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw SwiftCaffeError("cannot open '\(path)'") }
        let magic = (try? handle.read(upToCount: 2)) ?? Data()
        fileSize = Int((try? handle.seekToEnd()) ?? 0)
        try? handle.close()
        isCompressed = magic == Data([0x1F, 0x8B])
        guard let file = gzopen(path, "rb") else { throw SwiftCaffeError("cannot open '\(path)'") }
        gzbuffer(file, 1 << 20)
        self.file = file
    }

    deinit { gzclose(file) }

    /// The most bytes the file can hold once inflated: its size when plain; for gzip, deflate's
    /// largest ratio (1032:1) times its size. A header that promises more is lying.
    var maximumContentSize: Int {
        guard isCompressed else { return fileSize }
        let (bound, overflow) = fileSize.multipliedReportingOverflow(by: 1032)
        return overflow ? .max : bound
    }

    /// Reads exactly `count` bytes into `buffer`, or throws naming the file.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws {
        var done = 0
        while done < count {
            let chunk = UInt32(min(count - done, 1 << 30))
            let read = Int(gzread(file, buffer + done, chunk))
            if read < 0 { throw damaged() }
            if read == 0 {
                try checkStream()
                throw SwiftCaffeError("'\(path)' ends after \(done) of the \(count) bytes its header announces",
                                      hint: "the file is truncated; reinstall or re-download it")
            }
            done += read
        }
    }

    /// Reads `count` bytes as an array.
    func read(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(into: $0.baseAddress!, count: count) }
        return bytes
    }

    /// Whether the stream has ended (it is an error if a header accounted for every byte and
    /// more follow).
    func isAtEnd() throws -> Bool {
        var byte: UInt8 = 0
        let read = gzread(file, &byte, 1)
        if read < 0 { throw damaged() }
        if read == 0 { try checkStream() }
        return read == 0
    }

    /// gzread reports a truncated stream as a clean end on some zlib versions; gzerror tells.
    private func checkStream() throws {
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code != Z_OK && code != Z_STREAM_END { throw damaged() }
    }

    private func damaged() -> SwiftCaffeError {
        var code: Int32 = 0
        let message = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
        return SwiftCaffeError("cannot read '\(path)': \(message)", hint: "the file is damaged or truncated; reinstall or re-download it")
    }
}

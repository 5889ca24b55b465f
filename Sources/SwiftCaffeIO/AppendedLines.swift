import Foundation
import SwiftCaffeCore

/// A text file that grows by whole lines, each in one `write`: the training log and the
/// training record. A crash leaves whole lines only. A line that does not fit (a full disk, a
/// file-size limit) is cut back off the file and reported as an error, so the file never ends
/// in half a line.
public final class AppendedLines {
    public let path: String
    /// What the file is, for messages: "the log".
    let what: String
    private let descriptor: Int32

    /// Starts the file with `lines` (written atomically: an earlier file is replaced whole),
    /// then keeps it open for appending.
    public init(path: String, startingWith lines: [String], what: String) throws {
        self.path = path
        self.what = what
        try AtomicFile.write(Array(lines.map { $0 + "\n" }.joined().utf8), to: path)
        descriptor = open(path, O_WRONLY | O_APPEND)
        guard descriptor >= 0 else { throw SwiftCaffeError("cannot write \(what) '\(path)': \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    /// Appends `line` and a newline.
    public func append(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        let size = lseek(descriptor, 0, SEEK_END)
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else {
                let reason = result < 0 ? String(cString: strerror(errno)) : "nothing written"
                if size >= 0 { _ = ftruncate(descriptor, size) }
                throw SwiftCaffeError("cannot append to \(what) '\(path)': \(reason)", hint: "free some disk space; the last snapshot is intact")
            }
            written += result
        }
    }
}

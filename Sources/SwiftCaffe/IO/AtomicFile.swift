import Foundation

/// Writes files so that a crash or Ctrl-C never leaves a half-written one behind: the bytes go
/// to a temporary file in the same folder, are flushed to disk, and the file is then renamed
/// over the target (rename is atomic within a file system).
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw SwiftCaffeError("cannot create the folder '\(folder)': \(error.localizedDescription)")
        }
        let temporary = folder + "/.\(url.lastPathComponent).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SwiftCaffeError("cannot write '\(temporary)': \(String(cString: strerror(errno)))") }
        var ok = true
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    return
                }
                offset += written
            }
        }
        let reason = String(cString: strerror(errno))
        if ok { ok = fsync(fd) == 0 }
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw SwiftCaffeError("cannot write '\(path)': \(ok ? message : reason)", hint: "check the disk space and the folder's permissions")
        }
    }
}

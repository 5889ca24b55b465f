import Foundation
import SwiftCaffeCore

/// What every reader checks before it opens a file a user named: that it is a regular file
/// (or a folder where one is expected). A FIFO, a device or a socket would block a read
/// forever or never end, so it is refused by name instead.
public enum FileChecks {
    /// Throws unless `path` is a regular file (symbolic links followed). `what` names it in
    /// messages ("the weights file").
    public static func requireRegularFile(_ path: String, what: String = "the file") throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            let missing = errno == ENOENT || errno == ENOTDIR
            throw SwiftCaffeError("cannot read \(what) '\(path)': \(missing ? "no such file" : String(cString: strerror(errno)).lowercased())",
                                  hint: missing ? "check the path" : "check the file's permissions")
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: throw SwiftCaffeError("\(what) '\(path)' is a folder, not a file", hint: "name the file inside it")
        default: throw SwiftCaffeError("\(what) '\(path)' is not a regular file (a pipe, device or socket)", hint: "copy the data into a file and name that")
        }
    }

    /// Throws unless `path` is a folder.
    public static func requireFolder(_ path: String, what: String = "the folder") throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw SwiftCaffeError("cannot open \(what) '\(path)': \(String(cString: strerror(errno)))", hint: "check the path")
        }
        guard status.st_mode & S_IFMT == S_IFDIR else { throw SwiftCaffeError("\(what) '\(path)' is not a folder") }
    }

    /// The bytes of the regular file at `path`.
    public static func contents(of path: String, what: String = "the file") throws -> Data {
        try requireRegularFile(path, what: what)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SwiftCaffeError("cannot read \(what) '\(path)': not readable", hint: "check the file's permissions")
        }
        return data
    }
}

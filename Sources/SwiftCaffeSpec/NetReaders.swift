import Foundation

/// Net file formats besides YAML, by extension: `NetSpec.load` hands a file with a
/// registered extension to its reader. Higher targets register theirs (CaffeInterop: Caffe's
/// `.prototxt` nets and solvers), so every command that takes a net takes every format.
public enum NetReaders {
    /// A format: its name for messages, its extensions (lower case, no dot) and its reader,
    /// which turns the file into the same `NetSpec` a YAML file gives.
    public struct Reader: Sendable {
        public var name: String
        public var extensions: [String]
        public var read: @Sendable (_ path: String, _ state: NetState) throws -> NetSpec
        /// Whether it also reads a file whose name gives no format and that is not YAML
        /// (pycaffe scripts write nets to temporary files without an extension).
        public var readsUnnamedFiles: Bool

        public init(name: String, extensions: [String], readsUnnamedFiles: Bool = false,
                    read: @escaping @Sendable (String, NetState) throws -> NetSpec) {
            self.name = name
            self.extensions = extensions
            self.readsUnnamedFiles = readsUnnamedFiles
            self.read = read
        }
    }

    nonisolated(unsafe) private static var readers: [Reader] = []
    private static let lock = NSLock()

    /// Adds `reader`, replacing an earlier one of the same name.
    public static func register(_ reader: Reader) {
        lock.withLock {
            readers.removeAll { $0.name == reader.name }
            readers.append(reader)
        }
    }

    /// The reader for files whose name gives no format and that YAML cannot parse.
    public static var unnamedFileReader: Reader? { lock.withLock { readers.first { $0.readsUnnamedFiles } } }

    /// The reader for `path`'s extension; nil for YAML (and any other name).
    public static func reader(for path: String) -> Reader? {
        let suffix = URL(fileURLWithPath: path).pathExtension.lowercased()
        return lock.withLock { readers.first { $0.extensions.contains(suffix) } }
    }
}

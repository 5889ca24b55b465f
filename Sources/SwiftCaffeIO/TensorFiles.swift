import Foundation
import SwiftCaffeCore

/// Named Float32 tensors as one file holds them: a net's weights, a mean image.
public struct TensorFile: Sendable {
    /// In the file's order (a weights file lists each layer's blobs in Caffe's order).
    public var tensors: [(name: String, tensor: Safetensors.Tensor)]
    /// Free-form facts about the tensors (the net's name, the training iteration).
    public var metadata: [String: String]
    /// The type of each layer the tensors belong to, for formats that store it (Caffe's
    /// `.caffemodel`); empty when unknown.
    public var layerTypes: [String: String]

    public init(tensors: [(name: String, tensor: Safetensors.Tensor)], metadata: [String: String] = [:], layerTypes: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
        self.layerTypes = layerTypes
    }

    /// The tensors by name.
    public var byName: [String: Safetensors.Tensor] { Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first }) }
}

/// One file format for named tensors, known by its extensions.
public struct TensorFileFormat: Sendable {
    /// For messages: "safetensors", "Caffe model".
    public var name: String
    /// Lower-case, without the dot.
    public var extensions: [String]
    /// Whether a file whose name has no known extension is in this format, from its first 16 bytes.
    public var recognizes: @Sendable ([UInt8]) -> Bool
    public var read: @Sendable (_ path: String) throws -> TensorFile
    /// Nil for a format that is only read.
    public var write: (@Sendable (_ file: TensorFile, _ path: String) throws -> Void)?

    public init(name: String, extensions: [String], recognizes: @escaping @Sendable ([UInt8]) -> Bool = { _ in false },
                read: @escaping @Sendable (String) throws -> TensorFile, write: (@Sendable (TensorFile, String) throws -> Void)? = nil) {
        self.name = name
        self.extensions = extensions
        self.recognizes = recognizes
        self.read = read
        self.write = write
    }
}

/// The tensor file formats, by extension. safetensors and numpy's .npy are built in, and a
/// name without a known extension is written as safetensors and read as whichever format
/// recognises its first bytes (safetensors when none does). Higher targets register theirs
/// (CaffeInterop: `.caffemodel`, `.binaryproto`), so everything that reads weights or a mean
/// image takes every registered format.
public enum TensorFiles {
    nonisolated(unsafe) private static var formats: [TensorFileFormat] = [safetensors, NPYFile.format]
    private static let lock = NSLock()

    /// Adds `format`, replacing an earlier one with the same name.
    public static func register(_ format: TensorFileFormat) {
        lock.withLock {
            formats.removeAll { $0.name == format.name }
            formats.append(format)
        }
    }

    /// The format of `path`: by extension, else by content, else safetensors.
    public static func format(of path: String) -> TensorFileFormat {
        let known = lock.withLock { formats }
        let suffix = URL(fileURLWithPath: path).pathExtension.lowercased()
        if let format = known.first(where: { $0.extensions.contains(suffix) }) { return format }
        if let head = try? readHead(of: path), let format = known.first(where: { $0.recognizes(head) }) { return format }
        return safetensors
    }

    public static func read(_ path: String) throws -> TensorFile { try format(of: path).read(path) }

    /// Writes atomically in the format `path`'s extension names (safetensors for others), or
    /// the one `formatExtension` names ("h5": whatever the file is called).
    public static func write(_ file: TensorFile, to path: String, formatExtension: String? = nil) throws {
        let named = formatExtension.flatMap { suffix in lock.withLock { formats.first { $0.extensions.contains(suffix.lowercased()) } } }
        if let formatExtension, named == nil {
            throw SwiftCaffeError("no tensor file format has the extension '\(formatExtension)'", hint: "use safetensors, caffemodel or h5")
        }
        let format = named ?? format(of: path)
        guard let write = format.write else {
            throw SwiftCaffeError("cannot write '\(path)': SwiftCaffe reads \(format.name) files but does not write them",
                                  hint: "write a .safetensors file")
        }
        try write(file, path)
    }

    private static func readHead(of path: String) throws -> [UInt8] {
        try FileChecks.requireRegularFile(path, what: "the file")
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        return [UInt8]((try handle.read(upToCount: 16)) ?? Data())
    }

    /// safetensors: an 8-byte header length, then a JSON header starting with '{'.
    static let safetensors = TensorFileFormat(
        name: "safetensors", extensions: ["safetensors"],
        recognizes: { $0.count >= 9 && $0[8] == UInt8(ascii: "{") },
        read: { path in
            let (tensors, metadata) = try Safetensors.read(path: path)
            return TensorFile(tensors: tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: metadata)
        },
        write: { file, path in
            let bytes = try Safetensors.withBuffers(file.tensors) { try Safetensors.encode($0, metadata: file.metadata) }
            try AtomicFile.write(bytes, to: path)
        })
}

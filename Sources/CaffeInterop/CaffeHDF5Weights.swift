import Foundation
import SwiftCaffe

/// Caffe's HDF5 weights (`snapshot_format: HDF5`, pycaffe's `net.save_hdf5`): one float
/// dataset per parameter blob at `data/<layer>/<index>` (a layer name with slashes lies in
/// nested groups, as Caffe writes it). Read as the tensors `<layer>.<index>`; Caffe's `diff/`
/// group, when present, is not read. Written without it.
enum CaffeHDF5Weights {
    static let format = TensorFileFormat(
        name: "Caffe HDF5 weights", extensions: ["h5", "hdf5"],
        recognizes: { $0.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]) },  // "\u{89}HDF\r\n\u{1a}\n"
        read: read, write: write)

    @Sendable static func read(_ path: String) throws -> TensorFile {
        var names: [(dataset: String, tensor: String)] = []
        for dataset in try HDF5File.datasetNames(path: path) where dataset.hasPrefix("data/") {
            let rest = dataset.dropFirst("data/".count)
            guard let slash = rest.lastIndex(of: "/"), let index = Int(rest[rest.index(after: slash)...]), index >= 0 else { continue }
            names.append((dataset, "\(rest[..<slash]).\(index)"))
        }
        guard !names.isEmpty else {
            throw SwiftCaffeError("'\(path)' holds no Caffe weights (no datasets under data/<layer>/<index>)",
                                  hint: "pass weights written by Caffe's HDF5 snapshots or net.save_hdf5, or a .caffemodel")
        }
        let values = try HDF5File.read(path: path, datasets: names.map(\.dataset))
        return TensorFile(tensors: names.map { ($0.tensor, values[$0.dataset]!) })
    }

    @Sendable static func write(_ file: TensorFile, to path: String) throws {
        let datasets = try file.tensors.map { name, tensor -> (name: String, tensor: Safetensors.Tensor) in
            guard let dot = name.lastIndex(of: "."), Int(name[name.index(after: dot)...]) != nil else {
                throw SwiftCaffeError("cannot write '\(name)' as Caffe HDF5 weights: names are <layer>.<index>")
            }
            return ("data/\(name[..<dot])/\(name[name.index(after: dot)...])", tensor)
        }
        // HDF5 writes in place: write beside it under AtomicFile's temporary name (which
        // `removeStaleTemporaries` clears after a crash), then rename over the target.
        let target = URL(fileURLWithPath: path)
        let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).tmp-\(getpid())").path
        do {
            try HDF5File.write(datasets, to: temporary)
            guard rename(temporary, path) == 0 else { throw SwiftCaffeError("cannot rename '\(temporary)' to '\(path)'", hint: "check the folder's permissions") }
        } catch {
            unlink(temporary)
            throw error
        }
    }
}

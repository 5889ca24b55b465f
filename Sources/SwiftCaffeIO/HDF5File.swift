import CHDF5
import Foundation
import SwiftCaffeCore

/// Float datasets in and out of HDF5 files (libhdf5), as Caffe's HDF5Data and HDF5Output
/// layers use them: each dataset an N×... array, read as float whatever number type the file
/// stores (HDF5 converts), written as 32-bit floats.
public enum HDF5File {
    private static let quiet: Void = swiftcaffe_h5_quiet()
    /// Debian's libhdf5 is built without thread safety, so one call at a time in the process
    /// (tests, and nets built side by side, may read or write from several threads).
    private static let lock = NSLock()

    /// The datasets `names` of the file at `path`.
    public static func read(path: String, datasets names: [String]) throws -> [String: Safetensors.Tensor] {
        try lock.withLock { try readUnlocked(path: path, datasets: names) }
    }

    private static func readUnlocked(path: String, datasets names: [String]) throws -> [String: Safetensors.Tensor] {
        _ = quiet
        guard FileManager.default.fileExists(atPath: path) else { throw SwiftCaffeError("no HDF5 file '\(path)'") }
        // After HDF5 1.10's H5Fopen failed on a file that is not HDF5, the library reported
        // "infinite loop closing library" when `swift test` (hdf5RoundTrip) exited: something
        // stayed open. Its signature check, first, leaves nothing open.
        let file = H5Fis_hdf5(path) > 0 ? H5Fopen(path, swiftcaffe_h5_read_only(), hid_t(H5P_DEFAULT)) : -1
        guard file >= 0 else { throw SwiftCaffeError("'\(path)' is not an HDF5 file (or not readable)") }
        defer { H5Fclose(file) }
        var result: [String: Safetensors.Tensor] = [:]
        for name in names {
            guard H5Lexists(file, name, hid_t(H5P_DEFAULT)) > 0 else {
                throw SwiftCaffeError("'\(path)' has no dataset '\(name)'", hint: "HDF5Data reads one dataset per top, named like the top")
            }
            let dataset = H5Dopen2(file, name, hid_t(H5P_DEFAULT))
            guard dataset >= 0 else { throw SwiftCaffeError("'\(name)' in '\(path)' is not a dataset") }
            defer { H5Dclose(dataset) }
            let space = H5Dget_space(dataset)
            defer { H5Sclose(space) }
            let rank = Int(H5Sget_simple_extent_ndims(space))
            guard (1...32).contains(rank) else { throw SwiftCaffeError("the dataset '\(name)' in '\(path)' has \(rank) dimensions") }
            var dimensions = [hsize_t](repeating: 0, count: rank)
            H5Sget_simple_extent_dims(space, &dimensions, nil)
            let shape = dimensions.map { Int(clamping: $0) }
            guard let count = checkedCount(shape) else {
                throw SwiftCaffeError("the dataset '\(name)' in '\(path)' is too large (\(shape))")
            }
            try MemoryBudget.require(floats: Double(count), for: "the dataset '\(name)' of '\(path)'")
            var values = [Float](repeating: 0, count: count)
            let status = values.withUnsafeMutableBytes {
                H5Dread(dataset, swiftcaffe_h5_native_float(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), $0.baseAddress)
            }
            guard status >= 0 else {
                throw SwiftCaffeError("cannot read the dataset '\(name)' of '\(path)' as numbers", hint: "HDF5Data reads numeric datasets")
            }
            result[name] = Safetensors.Tensor(shape: shape, values: values)
        }
        return result
    }

    /// Writes `datasets` as 32-bit float datasets of a new file at `path` (replacing it).
    public static func write(_ datasets: [(name: String, tensor: Safetensors.Tensor)], to path: String) throws {
        try lock.withLock { try writeUnlocked(datasets, to: path) }
    }

    private static func writeUnlocked(_ datasets: [(name: String, tensor: Safetensors.Tensor)], to path: String) throws {
        _ = quiet
        let file = H5Fcreate(path, swiftcaffe_h5_truncate(), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard file >= 0 else { throw SwiftCaffeError("cannot create the HDF5 file '\(path)'", hint: "check the folder and the disk space") }
        defer { H5Fclose(file) }
        for (name, tensor) in datasets {
            let dimensions = tensor.shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dimensions.count), dimensions, nil)
            defer { H5Sclose(space) }
            let dataset = H5Dcreate2(file, name, swiftcaffe_h5_native_float(), space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            guard dataset >= 0 else { throw SwiftCaffeError("cannot create the dataset '\(name)' in '\(path)'") }
            defer { H5Dclose(dataset) }
            let status = tensor.values.withUnsafeBytes {
                H5Dwrite(dataset, swiftcaffe_h5_native_float(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), $0.baseAddress)
            }
            guard status >= 0 else { throw SwiftCaffeError("cannot write the dataset '\(name)' to '\(path)'", hint: "check the disk space") }
        }
    }
}

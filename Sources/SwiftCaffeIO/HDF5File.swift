import CHDF5
import Foundation
import SwiftCaffeCore

/// Float datasets in and out of HDF5 files (libhdf5), as Caffe's HDF5Data and HDF5Output
/// layers use them: each dataset an N×... array, read as float whatever number type the file
/// stores (HDF5 converts), written as 32-bit floats.
public enum HDF5File {
    /// Switches HDF5's own error printing off. Debian's libhdf5 is built thread-safe, and in
    /// that build the switch holds for the calling thread only: so every entry point calls it.
    private static var quiet: Void { swiftcaffe_h5_quiet() }
    /// One call at a time in the process (tests, and nets built side by side, read and write
    /// from several threads): the library's own lock would serialise them anyway, and ours
    /// also keeps a file's open-read-close together.
    private static let lock = NSLock()

    /// Opens `path` read-only, or returns -1. The signature is checked first: after HDF5
    /// 1.10's H5Fopen failed on a file that is not HDF5, the library reported "infinite loop
    /// closing library" at exit (something stayed open); its signature check leaves nothing open.
    ///
    /// Without file locks: HDF5 1.10 takes a shared flock on every file it reads, which fails
    /// (EAGAIN, "not readable") while any process holds an exclusive one, and on file systems
    /// without flock (many NFS and Lustre mounts). A writer's lock also outlives the writer
    /// when a process forked meanwhile inherits its descriptor (Foundation's `Process` closes
    /// only the descriptors open when it starts counting), which is how one test once failed.
    /// Reading never changes the file, and a file changed under the reader is caught by the
    /// same shape and chunk checks that catch a damaged one.
    private static func openForReading(_ path: String) -> hid_t {
        guard H5Fis_hdf5(path) > 0 else { return -1 }
        let access = swiftcaffe_h5_unlocked_access()
        defer { H5Pclose(access) }
        return H5Fopen(path, swiftcaffe_h5_read_only(), access)
    }

    /// The datasets `names` of the file at `path`.
    public static func read(path: String, datasets names: [String]) throws -> [String: Safetensors.Tensor] {
        let shapes = try shapes(path: path, datasets: names)
        var result: [String: Safetensors.Tensor] = [:]
        for name in names {
            let shape = shapes[name]!, count = checkedCount(shape)!
            try MemoryBudget.require(floats: Double(count), for: "the dataset '\(name)' of '\(path)'")
            var values = [Float](repeating: 0, count: count)
            try values.withUnsafeMutableBufferPointer { try read(path: path, dataset: name, into: $0) }
            result[name] = Safetensors.Tensor(shape: shape, values: values)
        }
        return result
    }

    /// The shapes of the datasets `names`, after checking that each can be read safely: a
    /// numeric dataset whose storage (chunks and their filters) fits its shape. Reads no values.
    public static func shapes(path: String, datasets names: [String]) throws -> [String: [Int]] {
        try lock.withLock {
            try withDatasets(path: path, names) { name, dataset in try layout(of: dataset, name: name, path: path).shape }
        }
    }

    /// Reads the dataset `name` into `target`, which holds exactly its values.
    public static func read(path: String, dataset name: String, into target: UnsafeMutableBufferPointer<Float>) throws {
        try lock.withLock {
            _ = try withDatasets(path: path, [name]) { name, dataset in
                let layout = try layout(of: dataset, name: name, path: path)
                let shape = layout.shape
                guard checkedCount(shape) == target.count else {
                    throw SwiftCaffeError("the dataset '\(name)' of '\(path)' changed while it was read")
                }
                if let chunk = layout.chunk {
                    let type = H5Dget_type(dataset)
                    defer { H5Tclose(type) }
                    try HDF5Chunks.read(dataset, type: type, shape: shape, chunk: chunk, filters: layout.filters, into: target) { why in
                        SwiftCaffeError("the dataset '\(name)' of '\(path)' \(why)", hint: "the file is damaged")
                    }
                    return shape
                }
                let status = H5Dread(dataset, swiftcaffe_h5_native_float(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), target.baseAddress)
                guard status >= 0 else {
                    throw SwiftCaffeError("cannot read the dataset '\(name)' of '\(path)' as numbers",
                                          hint: "HDF5Data reads numeric datasets; the file may be damaged")
                }
                return shape
            }
        }
    }

    /// Opens the file and each dataset of `names`, calling `body` with it; closes them after.
    private static func withDatasets(path: String, _ names: [String], _ body: (String, hid_t) throws -> [Int]) throws -> [String: [Int]] {
        _ = quiet
        try FileChecks.requireRegularFile(path, what: "the HDF5 file")
        let file = openForReading(path)
        guard file >= 0 else { throw SwiftCaffeError("'\(path)' is not an HDF5 file (or not readable)") }
        defer { H5Fclose(file) }
        var result: [String: [Int]] = [:]
        for name in names {
            guard H5Lexists(file, name, hid_t(H5P_DEFAULT)) > 0 else {
                throw SwiftCaffeError("'\(path)' has no dataset '\(name)'", hint: "HDF5Data reads one dataset per top, named like the top")
            }
            let dataset = H5Dopen2(file, name, hid_t(H5P_DEFAULT))
            guard dataset >= 0 else { throw SwiftCaffeError("'\(name)' in '\(path)' is not a dataset") }
            defer { H5Dclose(dataset) }
            result[name] = try body(name, dataset)
        }
        return result
    }

    /// The dataset's shape and, for chunked storage, its chunks' shape and filters, once its
    /// type is a number and its chunks are of the dataset's rank, each dimension at least 1,
    /// under HDF5's 4 GB per chunk.
    private static func layout(of dataset: hid_t, name: String, path: String) throws -> (shape: [Int], chunk: [Int]?, filters: [Int32]) {
        func damaged(_ why: String) -> SwiftCaffeError {
            SwiftCaffeError("the dataset '\(name)' of '\(path)' \(why)",
                            hint: "the file is damaged, or was not written for HDF5Data (numeric datasets, one row per sample)")
        }
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        let typeClass = H5Tget_class(type)
        guard typeClass == H5T_FLOAT || typeClass == H5T_INTEGER else { throw damaged("does not hold numbers") }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard (1...32).contains(rank) else { throw damaged("has \(rank) dimensions") }
        var dimensions = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dimensions, nil)
        let shape = dimensions.map { Int(clamping: $0) }
        guard checkedCount(shape) != nil else { throw damaged("is too large (\(shape))") }
        let properties = H5Dget_create_plist(dataset)
        defer { H5Pclose(properties) }
        if H5Pget_layout(properties) == H5D_CHUNKED {
            var chunk = [hsize_t](repeating: 0, count: 32)
            let chunkRank = Int(H5Pget_chunk(properties, 32, &chunk))
            guard chunkRank == rank else { throw damaged("is stored in chunks of \(chunkRank) dimensions for its \(rank)") }
            let elements = chunk.prefix(rank).reduce(UInt64(1)) { $0.multipliedReportingOverflow(by: UInt64($1)).overflow ? .max : $0 * UInt64($1) }
            guard chunk.prefix(rank).allSatisfy({ $0 >= 1 }), elements <= (UInt64(1) << 32) / UInt64(max(H5Tget_size(type), 1)) else {
                throw damaged("has chunks of an impossible size, \(chunk.prefix(rank).map(String.init).joined(separator: "×"))")
            }
            var filters: [Int32] = []
            for index in 0..<max(H5Pget_nfilters(properties), 0) {
                var flags: UInt32 = 0, count = 0
                var filterName = [CChar](repeating: 0, count: 64)
                filters.append(H5Pget_filter2(properties, UInt32(index), &flags, &count, nil, 64, &filterName, nil))
            }
            return (shape, chunk.prefix(rank).map { Int(clamping: $0) }, filters)
        }
        return (shape, nil, [])
    }

    /// The paths of every dataset in the file ("data/conv1/0"), groups walked in name order.
    public static func datasetNames(path: String) throws -> [String] {
        try FileChecks.requireRegularFile(path, what: "the HDF5 file")  // HDF5 would wait on a pipe forever
        return try lock.withLock {
            _ = quiet
            let file = openForReading(path)
            guard file >= 0 else { throw SwiftCaffeError("'\(path)' is not an HDF5 file (or not readable)", hint: "pass Caffe's HDF5 weights, a .caffemodel or a .safetensors file") }
            defer { H5Fclose(file) }
            final class Names { var list: [String] = [] }
            let names = Names()
            let visit: H5L_iterate_t = { group, name, _, context in
                guard let name, let context else { return 0 }
                let path = String(cString: name)
                var info = H5O_info_t()
                if H5Oget_info_by_name(group, name, &info, hid_t(H5P_DEFAULT)) >= 0, info.type == H5O_TYPE_DATASET {
                    Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().list.append(path)
                }
                return 0
            }
            let status = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit, Unmanaged.passUnretained(names).toOpaque())
            guard status >= 0 else { throw SwiftCaffeError("cannot list the datasets of '\(path)'", hint: "the file is damaged") }
            return names.list
        }
    }

    /// Creates the file with a float dataset of `shape` whose values are never written (HDF5
    /// reads them as zeros): how a file can claim far more than it holds, for tests.
    static func declare(_ name: String, shape: [Int], in path: String) throws {
        try lock.withLock {
            _ = quiet
            let file = H5Fcreate(path, swiftcaffe_h5_truncate(), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            guard file >= 0 else { throw SwiftCaffeError("cannot create the HDF5 file '\(path)'") }
            defer { H5Fclose(file) }
            let space = H5Screate_simple(Int32(shape.count), shape.map { hsize_t($0) }, nil)
            defer { H5Sclose(space) }
            let dataset = H5Dcreate2(file, name, swiftcaffe_h5_native_float(), space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            guard dataset >= 0 else { throw SwiftCaffeError("cannot create the dataset '\(name)' in '\(path)'") }
            H5Dclose(dataset)
        }
    }

    /// Writes `datasets` as 32-bit float datasets of a new file at `path` (replacing it).
    public static func write(_ datasets: [(name: String, tensor: Safetensors.Tensor)], to path: String) throws {
        try lock.withLock { try writeUnlocked(datasets, to: path, chunkRows: nil) }
    }

    /// Writes in chunks of `chunkRows` rows, through HDF5's shuffle and gzip filters when
    /// `compressed` (as h5py writes with compression="gzip", shuffle=True): files of the kind
    /// `HDF5Chunks` reads, for tests.
    static func writeChunked(_ datasets: [(name: String, tensor: Safetensors.Tensor)], to path: String, chunkRows: Int, compressed: Bool) throws {
        try lock.withLock { try writeUnlocked(datasets, to: path, chunkRows: chunkRows, compressed: compressed) }
    }

    private static func writeUnlocked(_ datasets: [(name: String, tensor: Safetensors.Tensor)], to path: String, chunkRows: Int?,
                                      compressed: Bool = false) throws {
        _ = quiet
        let file = H5Fcreate(path, swiftcaffe_h5_truncate(), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard file >= 0 else { throw SwiftCaffeError("cannot create the HDF5 file '\(path)'", hint: "check the folder and the disk space") }
        defer { H5Fclose(file) }
        for (name, tensor) in datasets {
            let dimensions = tensor.shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dimensions.count), dimensions, nil)
            defer { H5Sclose(space) }
            let creation = chunkRows == nil ? hid_t(H5P_DEFAULT) : swiftcaffe_h5_dataset_creation()
            defer { if chunkRows != nil { H5Pclose(creation) } }
            if let chunkRows {
                H5Pset_chunk(creation, Int32(dimensions.count), [hsize_t(min(chunkRows, tensor.shape[0]))] + dimensions.dropFirst())
                if compressed {
                    H5Pset_shuffle(creation)
                    H5Pset_deflate(creation, 6)
                }
            }
            let links = swiftcaffe_h5_intermediate_groups()  // a name with slashes lies in groups
            defer { H5Pclose(links) }
            let dataset = H5Dcreate2(file, name, swiftcaffe_h5_native_float(), space, links, creation, hid_t(H5P_DEFAULT))
            guard dataset >= 0 else { throw SwiftCaffeError("cannot create the dataset '\(name)' in '\(path)'") }
            defer { H5Dclose(dataset) }
            let status = tensor.values.withUnsafeBytes {
                H5Dwrite(dataset, swiftcaffe_h5_native_float(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), $0.baseAddress)
            }
            guard status >= 0 else { throw SwiftCaffeError("cannot write the dataset '\(name)' to '\(path)'", hint: "check the disk space") }
        }
    }
}

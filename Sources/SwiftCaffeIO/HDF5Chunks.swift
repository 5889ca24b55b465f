import CHDF5
import CZlib
import Foundation
import SwiftCaffeCore

/// Reads a chunked HDF5 dataset one raw chunk at a time and undoes its filters here, rather
/// than through `H5Dread`: with a damaged chunk (a compressed chunk that inflates to the wrong
/// size, an index entry that lies about it) libhdf5's own path copies past its buffers and
/// the process dies of a segmentation fault. Here every size is checked against what the
/// chunk must hold before a byte moves: the raw chunk is read into a buffer of the size the
/// index gives, inflated (zlib) into one of exactly the chunk's size, unshuffled, its
/// checksum dropped, converted to Float by `H5Tconvert` in a buffer of ours, and copied into
/// the dataset's rows with bounds of ours. The filters Caffe's HDF5 files use (h5py's gzip,
/// shuffle, fletcher32) are read; another is an error naming it.
enum HDF5Chunks {
    static let deflate: Int32 = 1, shuffle: Int32 = 2, fletcher32: Int32 = 3

    static func read(_ dataset: hid_t, type: hid_t, shape: [Int], chunk: [Int], filters: [Int32], into target: UnsafeMutableBufferPointer<Float>,
                     damaged: (String) -> SwiftCaffeError) throws {
        let rank = shape.count
        let elementSize = H5Tget_size(type)
        guard (1...16).contains(elementSize) else { throw damaged("has elements of \(elementSize) bytes") }
        let chunkElements = chunk.reduce(1, *), chunkBytes = chunkElements * elementSize
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        var count: hsize_t = 0
        guard H5Dget_num_chunks(dataset, space, &count) >= 0 else { throw damaged("has a chunk index that cannot be read") }
        var raw: [UInt8] = [], plain = [UInt8](repeating: 0, count: chunkBytes), floats = [UInt8](repeating: 0, count: chunkElements * max(elementSize, 4))
        var offset = [hsize_t](repeating: 0, count: rank)
        for index in 0..<count {
            var mask: UInt32 = 0, address: haddr_t = 0, size: hsize_t = 0
            guard H5Dget_chunk_info(dataset, space, index, &offset, &mask, &address, &size) >= 0 else {
                throw damaged("has a chunk index that cannot be read")
            }
            let origin = offset.map { Int(clamping: $0) }
            guard (0..<rank).allSatisfy({ origin[$0] < shape[$0] && origin[$0] % chunk[$0] == 0 }) else {
                throw damaged("has a chunk at \(origin), outside its shape \(shape)")
            }
            guard size > 0, size <= hsize_t(chunkBytes) + 4 + hsize_t(chunkBytes / 2) + 1024 else {
                throw damaged("has a chunk of \(size) bytes where \(chunkBytes) are expected")
            }
            raw = [UInt8](repeating: 0, count: Int(size))
            var filtered: UInt32 = 0
            let status = raw.withUnsafeMutableBytes { H5Dread_chunk(dataset, hid_t(H5P_DEFAULT), offset, &filtered, $0.baseAddress) }
            guard status >= 0 else { throw damaged("has a chunk at \(origin) that cannot be read") }
            // The filters were applied in order when written; undo them in reverse, skipping
            // those the chunk's mask says were not applied.
            var bytes = raw
            for (position, filter) in filters.enumerated().reversed() where filtered & (1 << UInt32(position)) == 0 {
                switch filter {
                case fletcher32:
                    guard bytes.count >= 4 else { throw damaged("has a chunk too short for its checksum") }
                    bytes.removeLast(4)
                case deflate:
                    bytes = try inflate(bytes, bound: chunkBytes + 4, damaged: damaged)
                case shuffle:
                    guard bytes.count == chunkBytes else { throw damaged("has a shuffled chunk of \(bytes.count) bytes where \(chunkBytes) are expected") }
                    for element in 0..<chunkElements { for byte in 0..<elementSize { plain[element * elementSize + byte] = bytes[byte * chunkElements + element] } }
                    bytes = plain
                default:
                    throw damaged("is compressed with HDF5 filter \(filter), which SwiftCaffe does not read (gzip, shuffle and fletcher32 it does)")
                }
            }
            guard bytes.count == chunkBytes else { throw damaged("has a chunk at \(origin) of \(bytes.count) bytes where \(chunkBytes) are expected") }
            floats.withUnsafeMutableBytes { buffer in
                bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            let converted = floats.withUnsafeMutableBytes {
                H5Tconvert(type, swiftcaffe_h5_native_float(), chunkElements, $0.baseAddress, nil, hid_t(H5P_DEFAULT))
            }
            guard converted >= 0 else { throw damaged("holds values that do not convert to numbers") }
            floats.withUnsafeBytes { buffer in
                copy(buffer.bindMemory(to: Float.self), chunk: chunk, at: origin, shape: shape, into: target)
            }
        }
    }

    /// zlib's inflate of `bytes`, at most `bound` bytes out.
    private static func inflate(_ bytes: [UInt8], bound: Int, damaged: (String) -> SwiftCaffeError) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: bound)
        var length = uLongf(bound)
        let status = output.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { input in uncompress(out.baseAddress, &length, input.baseAddress, uLong(input.count)) }
        }
        guard status == Z_OK else { throw damaged("has a compressed chunk that does not inflate (zlib error \(status))") }
        output.removeLast(bound - Int(length))
        return output
    }

    /// Copies the part of a chunk that lies inside the dataset into its place in `target`.
    private static func copy(_ chunkValues: UnsafeBufferPointer<Float>, chunk: [Int], at origin: [Int], shape: [Int],
                             into target: UnsafeMutableBufferPointer<Float>) {
        let rank = shape.count
        let extent = (0..<rank).map { min(chunk[$0], shape[$0] - origin[$0]) }
        var datasetStrides = [Int](repeating: 1, count: rank), chunkStrides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) {
            datasetStrides[axis] = datasetStrides[axis + 1] * shape[axis + 1]
            chunkStrides[axis] = chunkStrides[axis + 1] * chunk[axis + 1]
        }
        // Row by row along the last axis: every index below is inside both arrays by construction.
        var index = [Int](repeating: 0, count: rank)
        let rows = extent.dropLast().reduce(1, *), width = extent[rank - 1]
        for _ in 0..<rows {
            var source = 0, destination = 0
            for axis in 0..<rank { source += index[axis] * chunkStrides[axis]; destination += (origin[axis] + index[axis]) * datasetStrides[axis] }
            (target.baseAddress! + destination).update(from: chunkValues.baseAddress! + source, count: width)
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < extent[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

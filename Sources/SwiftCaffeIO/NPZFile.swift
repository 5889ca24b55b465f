import CZlib
import SwiftCaffeCore

/// numpy's .npz: a zip archive of .npy files, one per named tensor, stored uncompressed, as
/// `numpy.savez` writes it and `numpy.load` reads it. Written only (by `forward` with several
/// blobs); the zip layout is the local headers, the data, then the central directory.
public enum NPZFile {
    /// Refuses what the zip format's 32-bit sizes cannot hold (4 GB) rather than writing a
    /// damaged archive.
    public static func encode(_ tensors: [(name: String, tensor: Safetensors.Tensor)]) throws -> [UInt8] {
        var archive: [UInt8] = [], directory: [UInt8] = []
        func le16(_ value: Int, into bytes: inout [UInt8]) { bytes += [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF)] }
        func le32(_ value: Int, into bytes: inout [UInt8]) { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((value >> shift) & 0xFF)) } }
        for (name, tensor) in tensors {
            let file = Array((name + ".npy").utf8), data = NPYFile.encode(tensor)
            let checksum = data.withUnsafeBufferPointer { Int(crc32(0, $0.baseAddress, uInt($0.count))) }
            let offset = archive.count
            guard offset + data.count + file.count + 30 < 0xFFFF_FFFF, tensors.count < 0xFFFF else {
                throw SwiftCaffeError("the blobs do not fit in an .npz archive (over 4 GB or 65,535 files)", hint: "write fewer or smaller blobs, one .npy each")
            }
            // Version needed 2.0, no flags, stored, no time or date: the same fields in both headers.
            var common: [UInt8] = []
            le16(20, into: &common); le16(0, into: &common); le16(0, into: &common); le16(0, into: &common); le16(0, into: &common)
            le32(checksum, into: &common); le32(data.count, into: &common); le32(data.count, into: &common)
            le16(file.count, into: &common)
            le32(0x0403_4B50, into: &archive)
            archive += common
            le16(0, into: &archive)  // no extra field
            archive += file + data
            le32(0x0201_4B50, into: &directory)
            le16(20, into: &directory)  // made by
            directory += common
            le16(0, into: &directory); le16(0, into: &directory); le16(0, into: &directory); le16(0, into: &directory)
            le32(0, into: &directory); le32(offset, into: &directory)
            directory += file
        }
        let start = archive.count
        archive += directory
        le32(0x0605_4B50, into: &archive)
        le16(0, into: &archive); le16(0, into: &archive)
        le16(tensors.count, into: &archive); le16(tensors.count, into: &archive)
        le32(directory.count, into: &archive); le32(start, into: &archive)
        le16(0, into: &archive)
        return archive
    }
}

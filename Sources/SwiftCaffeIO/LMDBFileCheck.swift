import Foundation
import SwiftCaffeCore

/// Checks an LMDB `data.mdb` before liblmdb maps it: liblmdb trusts the file, so one cut
/// short makes the map read past its end (SIGBUS), and one flipped byte in a page header
/// trips an assertion (`IS_LEAF(mp)`) that aborts the process. Both are a damaged file, and
/// a damaged file is an error naming it.
///
/// What it reads (LMDB 0.9's on-disk format, 64-bit): the two meta pages (the newer one
/// wins), the file's size against the last page they claim, then every branch and leaf page
/// of the main table from its root, each reached once: page numbers in range, page headers
/// as their level requires (branches above, leaves at the table's depth), every node's
/// offset, key and value inside its page, and each overflow value's first page header and
/// extent. Values themselves are not read (a Datum that does not decode is the reader's
/// error), so the check reads the tree, not the data set.
enum LMDBFileCheck {
    private static let pageHeaderSize = 16, nodeHeaderSize = 8
    private static let branch: UInt16 = 0x01, leaf: UInt16 = 0x02, overflow: UInt16 = 0x04, meta: UInt16 = 0x08
    private static let bigData: UInt16 = 0x01, subData: UInt16 = 0x02, dupData: UInt16 = 0x04
    private static let magic: UInt32 = 0xBEEF_C0DE
    private static let invalidPage = UInt64.max

    static func check(_ file: String) throws {
        try FileChecks.requireRegularFile(file, what: "the LMDB data file")
        let descriptor = open(file, O_RDONLY)
        guard descriptor >= 0 else { throw SwiftCaffeError("cannot open '\(file)': \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        fstat(descriptor, &status)
        let fileSize = UInt64(status.st_size)
        func damaged(_ why: String) -> SwiftCaffeError {
            SwiftCaffeError("the LMDB database '\(file)' is damaged: \(why)",
                            hint: "rebuild it (swiftcaffe convert-imageset, or Caffe's convert_imageset --backend lmdb); a copy cut short or changed on disk cannot be read")
        }
        func read(_ count: Int, at offset: UInt64) throws -> [UInt8] {
            guard offset <= fileSize, UInt64(count) <= fileSize - offset else { throw damaged("it ends before byte \(offset + UInt64(count))") }
            var bytes = [UInt8](repeating: 0, count: count)
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
            guard got == count else { throw damaged("a read at byte \(offset) came short") }
            return bytes
        }

        // The meta pages: page 0 at offset 0; its database record holds the page size.
        let first = try read(160, at: 0)
        guard first.u32(16) == magic else { throw damaged("it does not start with LMDB's meta page") }
        let pageSize = Int(first.u32(40))
        guard [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].contains(pageSize) else { throw damaged("its page size is \(pageSize)") }
        var metas: [(lastPage: UInt64, transaction: UInt64, root: UInt64, depth: Int, entries: UInt64)] = []
        for page in 0..<2 {
            let bytes = try read(160, at: UInt64(page * pageSize))
            guard bytes.u16(10) & meta != 0, bytes.u32(16) == magic, bytes.u32(20) == 1 else { continue }
            metas.append((bytes.u64(136), bytes.u64(144), bytes.u64(128), Int(bytes.u16(94)), bytes.u64(120)))
        }
        guard let current = metas.max(by: { $0.transaction < $1.transaction }) else { throw damaged("neither meta page is valid") }
        let pages = current.lastPage &+ 1
        guard current.lastPage < UInt64.max / UInt64(pageSize), pages * UInt64(pageSize) <= fileSize else {
            throw damaged("it claims \(pages) pages of \(pageSize) bytes but holds \(fileSize) bytes (cut short?)")
        }
        guard current.root != invalidPage else { return }  // an empty table
        guard (1...64).contains(current.depth) else { throw damaged("its table is \(current.depth) levels deep") }

        // The tree, breadth first, each page once.
        var visited: Set<UInt64> = [0, 1]
        var level: [UInt64] = [current.root]
        var entries: UInt64 = 0
        for depth in 1...current.depth {
            var next: [UInt64] = []
            let isLeafLevel = depth == current.depth
            for number in level {
                guard number >= 2, number < pages, visited.insert(number).inserted else {
                    throw damaged("page \(number) is out of range or reached twice")
                }
                let page = try read(pageSize, at: number * UInt64(pageSize))
                let flags = page.u16(10), lower = Int(page.u16(12)), upper = Int(page.u16(14))
                guard page.u64(0) == number, flags & (isLeafLevel ? leaf : branch) != 0, flags & (meta | overflow) == 0,
                      lower >= pageHeaderSize, lower <= upper, upper <= pageSize, (lower - pageHeaderSize) % 2 == 0 else {
                    throw damaged("page \(number) has a bad header for a \(isLeafLevel ? "leaf" : "branch") page")
                }
                for slot in 0..<((lower - pageHeaderSize) / 2) {
                    let offset = Int(page.u16(pageHeaderSize + 2 * slot))
                    guard offset >= upper, offset + nodeHeaderSize <= pageSize else { throw damaged("a node of page \(number) lies outside it") }
                    let low = UInt64(page.u16(offset)), high = UInt64(page.u16(offset + 2)), nodeFlags = page.u16(offset + 4)
                    let keySize = Int(page.u16(offset + 6))
                    if !isLeafLevel {
                        guard offset + nodeHeaderSize + keySize <= pageSize else { throw damaged("a key of page \(number) runs past it") }
                        next.append(low | high << 16 | UInt64(nodeFlags) << 32)
                        continue
                    }
                    guard nodeFlags & (subData | dupData) == 0 else { throw damaged("it holds sorted duplicates or sub-tables, which Caffe never writes") }
                    let valueSize = low | high << 16
                    entries += 1
                    if nodeFlags & bigData == 0 {
                        guard UInt64(offset + nodeHeaderSize + keySize) + valueSize <= UInt64(pageSize) else {
                            throw damaged("a record of page \(number) runs past it")
                        }
                        continue
                    }
                    guard offset + nodeHeaderSize + keySize + 8 <= pageSize else { throw damaged("a record of page \(number) runs past it") }
                    let start = page.u64(offset + nodeHeaderSize + keySize)
                    guard start >= 2, start < pages else { throw damaged("a record of page \(number) points outside the file") }
                    let head = try read(pageHeaderSize, at: start * UInt64(pageSize))
                    let span = UInt64(head.u32(12))
                    guard head.u64(0) == start, head.u16(10) & overflow != 0, span >= 1, span <= pages - start,
                          valueSize <= span * UInt64(pageSize) - UInt64(pageHeaderSize) else {
                        throw damaged("the large record starting at page \(start) is damaged")
                    }
                }
            }
            level = next
        }
        guard entries == current.entries else { throw damaged("its table counts \(current.entries) records but its pages hold \(entries)") }
    }
}

private extension Array where Element == UInt8 {
    func u16(_ at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(self[at + $1]) << (8 * UInt32($1)) } }
    func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(self[at + $1]) << (8 * UInt64($1)) } }
}

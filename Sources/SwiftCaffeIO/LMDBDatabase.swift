import CLMDB
import Foundation
import SwiftCaffeCore

/// An LMDB database as Caffe keeps its data sets (a folder holding `data.mdb`): records in
/// key order, read by position, or written in batches.
///
/// Reading never writes to the database: it is opened read-only without LMDB's lock file
/// (`MDB_NOLOCK`), so a database on a read-only disk, or one Caffe is reading, is safe. The
/// keys are listed once when it opens (a cursor pass touches the key pages, not the records),
/// so that a record can be read by its position in any order: the shuffles and the
/// data-parallel shards of `SampleOrder` need that; Caffe itself only reads in order.
public final class LMDBDatabase: @unchecked Sendable {
    public let path: String
    private var environment: OpaquePointer?
    private var database: MDB_dbi = 0
    /// Every key, concatenated, and where each starts (one more entry: the end).
    private var keyBytes: [UInt8] = []
    private var keyStarts: [Int] = [0]
    private let writable: Bool

    private func failure(_ code: Int32, _ doing: String) -> SwiftCaffeError {
        SwiftCaffeError("LMDB could not \(doing) '\(path)': \(String(cString: mdb_strerror(code)))")
    }

    /// Opens an existing database to read.
    public init(readingAt path: String) throws {
        self.path = path
        writable = false
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw SwiftCaffeError("no LMDB database '\(path)'", hint: "make one with 'swiftcaffe convert-imageset', or check 'source'")
        }
        guard isFolder.boolValue, FileManager.default.fileExists(atPath: path + "/data.mdb") else {
            let levelDB = FileManager.default.fileExists(atPath: path + "/CURRENT")
            throw SwiftCaffeError("'\(path)' is not an LMDB database (no data.mdb in it)",
                                  hint: levelDB ? "it looks like LevelDB, which SwiftCaffe does not read; rebuild it with 'swiftcaffe convert-imageset' or Caffe's --backend lmdb"
                                                : "an LMDB database is a folder with data.mdb, as Caffe's convert_imageset --backend lmdb writes it")
        }
        try LMDBFileCheck.check(path + "/data.mdb")
        try open(flags: UInt32(MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS))
        try listKeys()
    }

    /// Creates a database in a new (or empty) folder, to write.
    public init(creatingAt path: String) throws {
        self.path = path
        writable = true
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: path), !existing.isEmpty {
            throw SwiftCaffeError("'\(path)' exists and is not empty", hint: "choose a new folder; SwiftCaffe does not overwrite a database")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SwiftCaffeError("cannot create the folder '\(path)': \(error.localizedDescription)")
        }
        try open(flags: UInt32(MDB_NOTLS))
    }

    private func open(flags: UInt32) throws {
        var handle: OpaquePointer?
        var code = mdb_env_create(&handle)
        guard code == 0, let handle else { throw failure(code, "start on") }
        environment = handle
        if writable { mdb_env_set_mapsize(handle, 1 << 30) }
        code = mdb_env_open(handle, path, flags, 0o664)
        guard code == 0 else { throw failure(code, "open") }
        var transaction: OpaquePointer?
        code = mdb_txn_begin(handle, nil, writable ? 0 : UInt32(MDB_RDONLY), &transaction)
        guard code == 0 else { throw failure(code, "read") }
        code = mdb_dbi_open(transaction, nil, 0, &database)
        guard code == 0 else {
            mdb_txn_abort(transaction)
            throw failure(code, "open the main table of")
        }
        code = mdb_txn_commit(transaction)
        guard code == 0 else { throw failure(code, "open the main table of") }
    }

    deinit {
        if let environment { mdb_env_close(environment) }
    }

    private func listKeys() throws {
        try reading { transaction in
            var cursor: OpaquePointer?
            var code = mdb_cursor_open(transaction, database, &cursor)
            guard code == 0 else { throw failure(code, "list the records of") }
            defer { mdb_cursor_close(cursor) }
            var key = MDB_val(), value = MDB_val()
            code = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            while code == 0 {
                keyBytes.append(contentsOf: UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size))
                keyStarts.append(keyBytes.count)
                code = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
            }
            guard code == MDB_NOTFOUND else { throw failure(code, "list the records of") }
        }
    }

    private func reading<T>(_ body: (OpaquePointer?) throws -> T) throws -> T {
        var transaction: OpaquePointer?
        let code = mdb_txn_begin(environment, nil, UInt32(MDB_RDONLY), &transaction)
        guard code == 0 else { throw failure(code, "read") }
        defer { mdb_txn_abort(transaction) }
        return try body(transaction)
    }

    /// Records in the database when it was opened.
    public var count: Int { keyStarts.count - 1 }

    /// The key of the record at `position`, as text (Caffe's keys are `%08d_path`).
    public func key(at position: Int) -> String {
        String(decoding: keyBytes[keyStarts[position]..<keyStarts[position + 1]], as: UTF8.self)
    }

    /// The record at `position` in key order.
    public func value(at position: Int) throws -> [UInt8] {
        try reading { transaction in
            var value = MDB_val()
            let code = keyBytes.withUnsafeMutableBytes { bytes -> Int32 in
                var key = MDB_val(mv_size: keyStarts[position + 1] - keyStarts[position], mv_data: bytes.baseAddress! + keyStarts[position])
                return mdb_get(transaction, database, &key, &value)
            }
            guard code == 0 else { throw failure(code, "read the record '\(key(at: position))' of") }
            return [UInt8](UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
        }
    }

    /// Writes `records` in one transaction, growing the map when it is full (as Caffe does).
    public func write(_ records: [(key: String, value: [UInt8])]) throws {
        while true {
            var transaction: OpaquePointer?
            var code = mdb_txn_begin(environment, nil, 0, &transaction)
            guard code == 0 else { throw failure(code, "write to") }
            for record in records where code == 0 {
                var keyText = Array(record.key.utf8)
                var value = record.value
                code = keyText.withUnsafeMutableBytes { keyBytes in
                    value.withUnsafeMutableBytes { valueBytes in
                        var key = MDB_val(mv_size: keyBytes.count, mv_data: keyBytes.baseAddress)
                        var data = MDB_val(mv_size: valueBytes.count, mv_data: valueBytes.baseAddress)
                        return mdb_put(transaction, database, &key, &data, 0)
                    }
                }
            }
            if code == 0 { code = mdb_txn_commit(transaction) } else { mdb_txn_abort(transaction) }
            if code == MDB_MAP_FULL {
                var info = MDB_envinfo()
                mdb_env_info(environment, &info)
                code = mdb_env_set_mapsize(environment, info.me_mapsize * 2)
                guard code == 0 else { throw failure(code, "grow") }
                continue
            }
            guard code == 0 else { throw failure(code, "write to") }
            return
        }
    }
}

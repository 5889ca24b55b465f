import Foundation
import SwiftCaffe

/// One run as the board sees it: its CSV log and its `TrainingRecord` (`<prefix>_log.csv`,
/// `<prefix>_events.jsonl`), read as they grow. `refresh()` reads whatever whole lines were
/// appended since the last call and returns them as messages for the page; the history a
/// newly connected page needs is kept compacted (`replay()`): every log row, but only the
/// latest of the numbers that each new one replaces (status, layers, the pictures of tests).
///
/// Not thread-safe: the board calls it under its lock.
final class TrainingRun {
    let id: String
    let prefix: String
    /// How the page names it: the prefix as given, relative to where the board started.
    let name: String
    var logPath: String { prefix + "_log.csv" }
    var recordPath: String { prefix + "_events.jsonl" }

    private var log = LineReader()
    private var record = LineReader()
    private var rows: [[String: Any]] = []
    private var starts: [[String: Any]] = []
    private var tests: [[String: Any]] = []
    private var snapshots: [[String: Any]] = []
    private var lastStatus: [String: Any]?
    private var lastLayers: [String: Any]?
    private var end: [String: Any]?
    /// The newest start's graph, served at `/runs/ID/graph.svg` rather than sent with it.
    private(set) var graph: String?
    /// Set when the process that trains it is known to be gone (the pipe of `--monitor`
    /// closed, or its pid is no longer alive): without an `end`, the run died.
    var processGone = false
    private var lastState: [UInt8] = []

    init(id: String, prefix: String, name: String) {
        self.id = id
        self.prefix = prefix
        self.name = name
    }

    /// New messages since the last call: appended rows and records, a reset when a file was
    /// rewritten (a resumed run drops the lines past its iteration), and the state when it
    /// changed.
    func refresh() -> [[String: Any]] {
        var messages: [[String: Any]] = []
        let (logLines, logReset) = log.read(logPath)
        let (recordLines, recordReset) = record.read(recordPath)
        if logReset || recordReset {
            // Start again from the top of both, so that the page's copy matches.
            log = LineReader()
            record = LineReader()
            rows = []; starts = []; tests = []; snapshots = []; lastStatus = nil; lastLayers = nil; end = nil; graph = nil
            messages.append(["kind": "reset", "run": id])
            return messages + refresh()
        }
        let newRows = logLines.compactMap(Self.row)
        if !newRows.isEmpty {
            rows += newRows
            messages.append(["kind": "rows", "run": id, "rows": newRows])
        }
        var records: [[String: Any]] = []
        for line in recordLines {
            guard var object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let event = object["event"] as? String else { continue }
            switch event {
            case "start":
                graph = object["graph_svg"] as? String
                object["graph_svg"] = nil
                starts.append(object)
                end = nil
            case "status": lastStatus = object
            case "layers": lastLayers = object
            case "test":
                if let last = tests.indices.last { tests[last]["pictures"] = nil }
                tests.append(object)
            case "snapshot": snapshots.append(object)
            case "end": end = object
            default: continue
            }
            records.append(object)
        }
        if !records.isEmpty { messages.append(["kind": "records", "run": id, "records": records]) }
        let state = self.state(), text = JSONText.encode(state)
        if text != lastState {
            lastState = text
            messages.append(state)
        }
        return messages
    }

    /// Everything a page that connects now needs, in the order it would have seen it.
    func replay() -> [[String: Any]] {
        var records = starts + tests + snapshots
        records.sort { ($0["iteration"] as? Int ?? 0) < ($1["iteration"] as? Int ?? 0) }
        records += [lastLayers, lastStatus, end].compactMap { $0 }
        return [description, ["kind": "rows", "run": id, "rows": rows], ["kind": "records", "run": id, "records": records], state()]
    }

    var description: [String: Any] { ["kind": "run", "run": id, "name": name, "prefix": prefix] }

    /// The iteration it is at: its last status, else its last log row.
    var iteration: Int { (lastStatus?["iteration"] as? Int) ?? (rows.last?["iteration"] as? Int) ?? 0 }

    /// `running`, `finished`, `interrupted`, `failed`, `died`, or `unknown` (a log without a
    /// record: written before records, or by another tool). Sent to pages when it changes.
    func state() -> [String: Any] {
        var state: [String: Any] = ["kind": "state", "run": id]
        if let end {
            state["state"] = end["outcome"] as? String ?? "finished"
            if let message = end["message"] { state["message"] = message }
        } else if starts.isEmpty {
            state["state"] = "unknown"
        } else if processGone || !isProcessAlive(starts.last!) {
            state["state"] = "died"
            state["message"] = "the training process ended without finishing its record (killed, or it crashed)"
        } else {
            state["state"] = "running"
        }
        return state
    }

    /// Whether the process a start names is still there: only knowable on the same machine.
    private func isProcessAlive(_ start: [String: Any]) -> Bool {
        // A record is a file anyone can write: a pid that is not one is "unknown", not a trap
        // (pid_t is 32 bits) nor a process group (a negative pid).
        guard let pid = (start["pid"] as? Int).flatMap(pid_t.init(exactly:)), pid > 0,
              start["host"] as? String == ProcessInfo.processInfo.hostName else { return true }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// A log row as the page takes it; nil for the header and anything malformed.
    static func row(_ line: String) -> [String: Any]? {
        let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) }
        guard cells.count == 7, let iteration = cells[0].flatMap(Int.init(exactly:)), let epoch = cells[1], let seconds = cells[2] else { return nil }
        var row: [String: Any] = ["iteration": iteration, "epoch": epoch, "seconds": seconds]
        for (key, index) in [("lr", 3), ("train_loss", 4), ("test_loss", 5), ("test_accuracy", 6)] {
            if let value = cells[index], value.isFinite { row[key] = value }
        }
        return row
    }
}

/// Reads the whole lines appended to a file since the last read. A file that was replaced
/// (another inode: the trainer rewrites its log and record atomically when it resumes, or
/// `--force` starts over) or that shrank is reported as reset. It reads at most `chunk` bytes
/// a call, and drops a line longer than `longest`: a huge or hand-made file costs time, not
/// all of the board's memory.
struct LineReader {
    static let chunk: UInt64 = 16 << 20
    static let longest = 64 << 20
    private var offset: UInt64 = 0
    private var partial = Data()
    private var inode: UInt64?

    mutating func read(_ path: String) -> (lines: [String], reset: Bool) {
        var info = stat()
        guard stat(path, &info) == 0 else { return ([], offset > 0) }
        let size = UInt64(info.st_size)
        if let inode, inode != UInt64(info.st_ino) || size < offset { return ([], true) }
        inode = UInt64(info.st_ino)
        // Only regular files are read: opening a FIFO named like a log would wait for a writer.
        guard size > offset, (info.st_mode & S_IFMT) == S_IFREG, let handle = FileHandle(forReadingAtPath: path) else { return ([], false) }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.read(upToCount: Int(min(size - offset, Self.chunk))) else { return ([], false) }
        offset += UInt64(data.count)
        partial.append(data)
        guard let last = partial.lastIndex(of: 10) else {
            if partial.count > Self.longest { partial = Data() }
            return ([], false)
        }
        let whole = partial[partial.startIndex...last]
        partial = Data(partial[(last + 1)...])
        return (whole.split(separator: 10).compactMap { String(data: Data($0), encoding: .utf8) }, false)
    }
}

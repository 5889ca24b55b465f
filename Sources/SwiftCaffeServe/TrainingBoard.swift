import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import SwiftCaffe

/// How the board learns that a run's files grew.
public enum BoardFollowing: Sendable {
    /// Look at the files every `interval` seconds (`swiftcaffe board`).
    case polling(interval: Double)
    /// `train --monitor`: the trainer writes a byte to this process's standard input after
    /// each thing it records, and closes it when it exits; the board then reports the run's
    /// end (or death) to the pages and stops `linger` seconds later.
    case attached(linger: Double)
}

/// `swiftcaffe board` and `train --monitor`: a page that shows training runs as they go,
/// from their CSV logs and `TrainingRecord`s. Pages connect to `/events`, a stream of
/// Server-Sent Events: first each run's history (`TrainingRun.replay`), then what each run
/// appends, as it appends it. The page (`BoardPage`) is compiled in, script and all, and
/// loads nothing from elsewhere.
///
/// The board only reads files, in a process of its own: a page that misbehaves, or a
/// board that stops, cannot disturb training.
public final class TrainingBoard: Sendable {
    let following: BoardFollowing
    private let state: BoardState
    private let http: HTTPServing

    /// Finds the runs in `paths`: folders (searched two levels down for `*_log.csv` and
    /// `*_events.jsonl`), log or record files, or run prefixes (`runs/lenet`).
    public init(paths: [String], host: String = "127.0.0.1", port: Int = 6006, following: BoardFollowing = .polling(interval: 0.5)) throws {
        http = HTTPServing(host: host, port: port)
        self.following = following
        var found: [(prefix: String, name: String)] = []
        for path in paths {
            var expecting = false
            if case .attached = following { expecting = true }
            for prefix in try Self.runPrefixes(in: path, expectingRuns: expecting) where !found.contains(where: { $0.prefix == prefix }) {
                found.append((prefix, Self.displayName(prefix, given: path)))
            }
        }
        state = BoardState(runs: found.enumerated().map { TrainingRun(id: "r\($0)", prefix: $1.prefix, name: $1.name) })
        _ = state.refresh()
    }

    /// The runs' ids and names, in the order the page lists them.
    public var runs: [(id: String, name: String)] { state.runs.map { ($0.id, $0.name) } }

    static func runPrefixes(in path: String, expectingRuns: Bool) throws -> [String] {
        var isFolder: ObjCBool = false
        let suffixes = ["_log.csv", "_events.jsonl"]
        func prefix(of file: String) -> String? {
            suffixes.first { file.hasSuffix($0) }.map { String(file.dropLast($0.count)) }
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else {
                guard let prefix = prefix(of: path) else {
                    throw SwiftCaffeError("'\(path)' is not a run: a run is a <prefix>_log.csv and <prefix>_events.jsonl that 'swiftcaffe train' wrote",
                                          hint: "give the run's folder, its log, or its prefix")
                }
                return [prefix]
            }
            var found: [String] = []
            func scan(_ folder: String, depth: Int) {
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
                for name in names {
                    let full = (folder as NSString).appendingPathComponent(name)
                    if let prefix = prefix(of: full), !found.contains(prefix) { found.append(prefix) }
                    var sub: ObjCBool = false
                    if depth > 0, FileManager.default.fileExists(atPath: full, isDirectory: &sub), sub.boolValue { scan(full, depth: depth - 1) }
                }
            }
            scan(path, depth: 2)
            found.sort(by: numberedOrder)
            guard !found.isEmpty else {
                throw SwiftCaffeError("'\(path)' holds no runs (no *_log.csv or *_events.jsonl in it or two levels below)",
                                      hint: "give the folder 'swiftcaffe train' wrote to (runs/ by default, or its --output)")
            }
            return found
        }
        // A prefix; under train --monitor its files may not exist yet, as the board starts first.
        guard expectingRuns || suffixes.contains(where: { FileManager.default.fileExists(atPath: path + $0) }) else {
            throw SwiftCaffeError("'\(path)' does not exist, nor does a run with that prefix", hint: "give a run's folder, its log file, or its prefix (runs/lenet for runs/lenet_log.csv)")
        }
        return [path]
    }

    /// A run found in a folder is named from that folder's name down (`runs/lenet-2`); one
    /// given by its prefix or log, by its prefix as given.
    static func displayName(_ prefix: String, given path: String) -> String {
        let folder = path.hasSuffix("/") ? String(path.dropLast()) : path
        guard prefix.hasPrefix(folder + "/") else { return prefix }
        return (folder as NSString).lastPathComponent + prefix.dropFirst(folder.count)
    }

    /// Runs in the order they were numbered: `lenet`, `lenet-2`, ..., `lenet-10` (a plain
    /// sort puts `lenet-10` and `lenet-2` before `lenet`, since '-' sorts before '_').
    static func numberedOrder(_ a: String, _ b: String) -> Bool {
        func key(_ prefix: String) -> (String, Int) {
            guard let dash = prefix.lastIndex(of: "-"), let number = Int(prefix[prefix.index(after: dash)...]) else { return (prefix, 1) }
            return (String(prefix[..<dash]), number)
        }
        let (x, y) = (key(a), key(b))
        return x.0 == y.0 ? x.1 < y.1 : x.0 < y.0
    }

    /// Serves until SIGINT or SIGTERM (or, attached, until the run's trainer has gone);
    /// `listening` gets the port once it listens.
    public func run(listening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router()
        router.middlewares.add(JSONErrors())
        routes(router)
        // The watcher stops first: it ends the pages' streams, which would keep the server waiting.
        try await http.run(router, alongside: [BoardWatcher(board: self)], label: "swiftcaffe.board", listening: listening)
    }

    /// `run` from a program that is not async.
    public func runBlocking(listening: @escaping @Sendable (Int) -> Void = { _ in }) throws {
        try HTTPServing.blocking { try await self.run(listening: listening) }
    }

    public func shutdown() async {
        state.closeStreams()
        await http.shutdown()
    }

    /// Reads what the runs appended and sends it to every page.
    func refresh() { state.broadcast(state.refresh()) }

    /// The trainer has gone: what it did not record as its end, it did not finish.
    func trainerGone() {
        state.markProcessesGone()
        refresh()
    }

    // MARK: Routes

    private func routes(_ router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: BoardPage.html)))
        }
        router.get("/health") { _, _ in Response(status: .ok) }
        router.get("/runs") { _, _ in json(.ok, self.state.summaries()) }
        router.get("/runs/:run/graph.svg") { _, context in
            guard let graph = self.state.graph(of: context.parameters.get("run") ?? "") else {
                throw ServeError(.notFound, "no graph for run '\(context.parameters.get("run") ?? "")' (no such run, or its record has not started)")
            }
            var headers = HTTPFields()
            headers[.contentType] = "image/svg+xml"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: graph)))
        }
        router.get("/events") { _, _ in
            let stream = self.state.subscribe()
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream"
            headers[.cacheControl] = "no-cache"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                for await chunk in stream { try await writer.write(chunk) }
                try await writer.finish(nil)
            })
        }
    }
}

/// The runs and the pages connected to them, behind one lock: the watcher's thread writes,
/// request handlers read.
final class BoardState: @unchecked Sendable {
    private let lock = NSLock()
    let runs: [TrainingRun]
    private var streams: [Int: AsyncStream<ByteBuffer>.Continuation] = [:]
    private var nextStream = 0
    private var closed = false

    init(runs: [TrainingRun]) { self.runs = runs }

    func refresh() -> [[String: Any]] { lock.withLock { runs.flatMap { $0.refresh() } } }

    func markProcessesGone() { lock.withLock { runs.forEach { $0.processGone = true } } }

    func summaries() -> [[String: Any]] {
        lock.withLock {
            runs.map { run in run.description.merging(run.state()) { a, _ in a }.merging(["iteration": run.iteration]) { a, _ in a }.filter { $0.key != "kind" } }
        }
    }

    func graph(of id: String) -> String? { lock.withLock { runs.first { $0.id == id }?.graph } }

    /// A new page's stream, starting with every run's history. A page that falls 10,000
    /// messages behind is disconnected; its browser reconnects and gets the history anew.
    func subscribe() -> AsyncStream<ByteBuffer> {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(10_000))
        lock.withLock {
            guard !closed else { return }
            let id = nextStream
            nextStream += 1
            streams[id] = continuation
            continuation.onTermination = { [weak self] _ in self?.lock.withLock { _ = self?.streams.removeValue(forKey: id) } }
            continuation.yield(Self.event(["kind": "hello", "runs": runs.count]))
            for message in runs.flatMap({ $0.replay() }) { continuation.yield(Self.event(message)) }
        }
        if lock.withLock({ closed }) { continuation.finish() }
        return stream
    }

    func broadcast(_ messages: [[String: Any]]) {
        guard !messages.isEmpty else { return }
        let chunks = messages.map(Self.event)
        // Finished outside the lock: finishing runs `onTermination`, which takes it.
        let behind: [AsyncStream<ByteBuffer>.Continuation] = lock.withLock {
            var behind: [AsyncStream<ByteBuffer>.Continuation] = []
            for (id, continuation) in streams {
                for chunk in chunks {
                    if case .dropped = continuation.yield(chunk) {
                        behind.append(continuation)
                        streams[id] = nil
                        break
                    }
                }
            }
            return behind
        }
        behind.forEach { $0.finish() }
    }

    /// A comment line, which keeps proxies from closing an idle stream and finds closed ones.
    func keepAlive() {
        lock.withLock { for continuation in streams.values { continuation.yield(ByteBuffer(string: ": keep-alive\n\n")) } }
    }

    func closeStreams() {
        let open: [AsyncStream<ByteBuffer>.Continuation] = lock.withLock {
            closed = true
            defer { streams = [:] }
            return Array(streams.values)
        }
        open.forEach { $0.finish() }  // outside the lock, as in `broadcast`
    }

    static func event(_ message: [String: Any]) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(JSONText.encode(message))
        buffer.writeString("\n\n")
        return buffer
    }
}

/// The board's second service: follows the runs' files (polling, or woken by the trainer's
/// pipe), and on shutdown ends the pages' streams, which would otherwise keep it waiting.
struct BoardWatcher: Service {
    let board: TrainingBoard

    func run() async throws {
        let stop = LockedBox(false)
        let thread = Thread {
            var lastKeepAlive = Date()
            switch board.following {
            case .polling(let interval):
                while !stop.get() {
                    Thread.sleep(forTimeInterval: interval)
                    board.refresh()
                    if Date().timeIntervalSince(lastKeepAlive) > 15 { board.stateKeepAlive(); lastKeepAlive = Date() }
                }
            case .attached(let linger):
                // Each byte on standard input: the trainer recorded something. End of file: it exited.
                var byte = [UInt8](repeating: 0, count: 256)
                var poller = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
                while !stop.get() {
                    let ready = poll(&poller, 1, 1000)
                    if ready > 0 {
                        let count = read(0, &byte, byte.count)
                        if count <= 0 && !(count < 0 && errno == EINTR) {
                            board.trainerGone()
                            Thread.sleep(forTimeInterval: linger)
                            Task { await board.shutdown() }
                            return
                        }
                    }
                    board.refresh()
                    if Date().timeIntervalSince(lastKeepAlive) > 15 { board.stateKeepAlive(); lastKeepAlive = Date() }
                }
            }
        }
        thread.start()
        try? await gracefulShutdown()
        stop.set(true)
        board.closeStreams()
    }
}

extension TrainingBoard {
    func stateKeepAlive() { state.keepAlive() }
    func closeStreams() { state.closeStreams() }
}

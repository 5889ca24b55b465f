import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import SwiftCaffe
@testable import SwiftCaffeIO
@testable import SwiftCaffeServe

/// What `swiftcaffe board` and `train --monitor` show: the run's record (`TrainingRecord`),
/// and the board serving runs and streaming what they append. The page in a real browser is
/// Tests/Monitor/test_monitor_browser.py.
@Suite(.serialized) struct TrainingBoardTests {
    /// Iris, plain SGD without momentum or decay at a fixed rate: each update is the rate
    /// times the gradient, which the record's norms must show.
    static func irisNet(display: Int = 5, maxIter: Int = 20) -> String {
        """
        name: IrisBoard
        layers:
          - {name: iris, type: CSVData, top: [data, label], phase: train, source: \(repositoryRoot)/data/iris/train.csv, header: true,
             label_column: -1, batch_size: 12, scale: 0.25, shuffle: true}
          - {name: iris, type: CSVData, top: [data, label], phase: test, source: \(repositoryRoot)/data/iris/test.csv, header: true,
             label_column: -1, batch_size: 30, scale: 0.25, label_names: [setosa, versicolor, virginica]}
          - {name: hidden, type: InnerProduct, bottom: data, top: hidden, num_output: 16, weight_filler: xavier}
          - {name: relu, type: ReLU, bottom: hidden, top: hidden}
          - {name: scores, type: InnerProduct, bottom: hidden, top: scores, num_output: 3, weight_filler: xavier}
          - {name: accuracy, type: Accuracy, bottom: [scores, label], top: accuracy, phase: test}
          - {name: loss, type: SoftmaxWithLoss, bottom: [scores, label], top: loss}
        solver: {type: SGD, base_lr: 0.1, momentum: 0, weight_decay: 0, lr_policy: fixed, max_iter: \(maxIter), display: \(display), test_interval: 10}
        """
    }

    static func records(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func aRunRecordsItsStartLayersTestsSnapshotsAndEnd() throws {
        let folder = try temporaryFolder()
        let trainer = try Trainer(spec: try NetSpec.parse(Self.irisNet()), options: TrainingOptions(output: folder))
        #expect(try trainer.run() == .finished)
        let records = try Self.records(trainer.recordPath)
        #expect(records.map { $0["event"] as! String }.filter { $0 != "status" }
            == ["start", "layers", "layers", "test", "layers", "layers", "test", "snapshot", "end"])
        let start = records[0]
        #expect(start["max_iter"] as? Int == 20 && start["batch"] as? Int == 12 && start["pid"] as? Int == Int(getpid()))
        let graph = try #require(start["graph_svg"] as? String)
        for name in ["hidden", "relu", "scores", "loss", "data 12x4"] { #expect(graph.contains(name), "\(name)") }

        // Norms at iteration 20 (the last layers line), against the net as the run left it.
        let layers = records.last { $0["event"] as? String == "layers" }!
        #expect(layers["iteration"] as? Int == 20)
        let times = try #require(layers["layers"] as? [[String: Any]])
        #expect(times.map { $0["name"] as! String } == trainer.trainNet.layers.map(\.name))
        #expect(times.allSatisfy { ($0["forward_ms"] as! Double) >= 0 } && times.contains { ($0["forward_ms"] as! Double) > 0 })
        let norms = try #require(layers["parameters"] as? [[String: Any]])
        #expect(norms.count == trainer.trainNet.parameters.count)
        for (entry, parameter) in zip(norms, trainer.trainNet.parameters) {
            #expect(entry["layer"] as? String == parameter.layer && entry["index"] as? Int == parameter.index)
            let weight = sqrt(parameter.blob.dataArray.reduce(0.0) { $0 + Double($1) * Double($1) })
            // Summed in Float by OpenBLAS (`TrainingObservations.norm`): to Float's precision.
            #expect(abs((entry["weight_norm"] as! Double) - weight) <= 1e-5 * weight)
            // Plain SGD: update = 0.1 × gradient, element by element, so their norms too.
            let gradient = entry["gradient_norm"] as! Double, update = entry["update_norm"] as! Double
            #expect(gradient > 0 && abs(update - 0.1 * gradient) <= 1e-4 * update, "\(entry)")
        }

        let test = records.last { $0["event"] as? String == "test" }!
        let confusion = try #require(test["confusion"] as? [[Int]])
        #expect(confusion.count == 3 && confusion.joined().reduce(0, +) == 30)
        #expect(test["class_names"] as? [String] == ["setosa", "versicolor", "virginica"])
        let accuracy = Double(confusion.indices.map { confusion[$0][$0] }.reduce(0, +)) / 30
        #expect(abs(((test["outputs"] as? [String: Double])?["accuracy"] ?? -1) - accuracy) < 1e-6)
        // An InnerProduct over rows is not a picture: its filters are not drawn.
        #expect((test["pictures"] as? [String: Any])?["filters"] == nil)
        #expect(records.last?["outcome"] as? String == "finished" && records.last?["iteration"] as? Int == 20)
    }

    @Test(.enabled(if: fashionMNISTInstalled)) func picturesShowTheFiltersTheImageAndItsMaps() throws {
        let folder = try temporaryFolder()
        let net = """
            name: pictures
            layers:
              - {name: data, type: IDXData, top: [data, label], images: \(fashionMNISTFolder)/t10k-images-idx3-ubyte.gz,
                 labels: \(fashionMNISTFolder)/t10k-labels-idx1-ubyte.gz, batch_size: 8, scale: 0.00390625}
              - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 6, kernel_size: 5, weight_filler: xavier}
              - {name: relu, type: ReLU, bottom: conv, top: conv}
              - {name: ip, type: InnerProduct, bottom: conv, top: ip, num_output: 10, weight_filler: xavier}
              - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
            solver: {base_lr: 0.01, max_iter: 2, display: 1, test_interval: 2, test_iter: 1}
            """
        let trainer = try Trainer(spec: try NetSpec.parse(net), options: TrainingOptions(output: folder))
        try trainer.run()
        let test = try #require(try Self.records(trainer.recordPath).last { $0["event"] as? String == "test" })
        let pictures = try #require(test["pictures"] as? [String: [String: String]])
        func image(_ key: String) throws -> RasterImage {
            let text = try #require(pictures[key]?["png"])
            let bytes = try #require(Data(base64Encoded: text))
            return try RasterImage(encoded: Array(bytes), name: key, channels: 1)
        }
        // 6 filters of 5×5 and 6 maps of 24×24 in grids of 3×3 tiles; one 28×28 image.
        #expect(pictures["filters"]?["caption"]?.contains("6 of 6 filter channels of 'conv'") == true)
        #expect(pictures["maps"]?["caption"]?.contains("6 of 6 output maps of 'conv'") == true)
        let input = try image("input"), maps = try image("maps")
        #expect(input.width == 1 + 28 + 1 && input.height == 1 + 28 + 1)  // one tile, 28 px ≥ 24
        #expect(maps.width == 1 + 3 * 25 && maps.height == 1 + 2 * 25)
        // The image is the test net's first: the first test picture, as the data layer reads it.
        let idx = try IDXFile(path: fashionMNISTFolder + "/t10k-images-idx3-ubyte.gz")
        let first = idx.bytes.prefix(784).map(Float.init)
        let low = first.min()!, high = first.max()!
        let expected = (0..<784).map { UInt8(((first[$0] - low) / (high - low) * 255).rounded()) }
        let shown = (0..<784).map { input.pixels[(1 + $0 / 28) * input.width + 1 + $0 % 28] }
        #expect(shown == expected)
    }

    @Test func aResumedRunKeepsItsRecordUpToTheSnapshot() throws {
        let folder = try temporaryFolder()
        let spec = try NetSpec.parse(Self.irisNet().replacingOccurrences(of: "test_interval: 10}", with: "test_interval: 10, snapshot: 10}"))
        let first = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        try first.run()
        let resumed = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        try resumed.resume(from: first.prefix + "_iter_10.solverstate")
        try resumed.run()
        let events = try Self.records(resumed.recordPath).map { "\($0["event"]!)@\($0["iteration"] ?? "")" }.filter { !$0.hasPrefix("status") }
        #expect(events == ["start@0", "layers@5", "layers@10", "test@10", "snapshot@10", "start@10", "layers@15", "layers@20", "test@20", "snapshot@20", "end@20"])
    }
}

/// The board's server: runs found in folders, the page, the event stream and its history,
/// growth, states, and errors.
@Suite(.serialized) struct TrainingBoardServerTests {
    /// A board on a free port over `paths`, following at 50 ms; shut down after `body`.
    static func serving(_ paths: [String], _ body: (Int) async throws -> Void) async throws {
        let board = try TrainingBoard(paths: paths, port: 0, following: .polling(interval: 0.05))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let running = Task { try await board.run { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw SwiftCaffeError("the board did not start") }
        do { try await body(port) } catch {
            await board.shutdown()
            _ = try? await running.value
            throw error
        }
        await board.shutdown()
        try await running.value
    }

    static func get(_ port: Int, _ path: String) async throws -> (status: Int, body: String, type: String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        let http = response as! HTTPURLResponse
        return (http.statusCode, String(decoding: data, as: UTF8.self), http.value(forHTTPHeaderField: "Content-Type") ?? "")
    }

    /// `/events` over a plain socket, as a browser's EventSource reads it: the messages, in
    /// order, as they arrive.
    final class EventStream: @unchecked Sendable {
        let socket: Int32
        var buffer = ""

        init(port: Int) throws {
            socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else { throw SwiftCaffeError("cannot connect to the board") }
            let request = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
            _ = request.withCString { send(socket, $0, strlen($0), 0) }
        }

        deinit { close(socket) }

        /// Messages until `done` says enough, or `seconds` pass. It waits on a thread of its
        /// own: blocking one of Swift concurrency's few threads would starve the board's.
        func read(seconds: Double = 20, until done: @escaping @Sendable ([[String: Any]]) -> Bool) async -> [[String: Any]] {
            final class Box: @unchecked Sendable { var value: [[String: Any]] = [] }
            let box = Box()
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                Thread { box.value = self.readBlocking(seconds: seconds, until: done); finished.resume() }.start()
            }
            return box.value
        }

        private func readBlocking(seconds: Double, until done: ([[String: Any]]) -> Bool) -> [[String: Any]] {
            var messages: [[String: Any]] = []
            let deadline = Date().addingTimeInterval(seconds)
            var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            while Date() < deadline && !done(messages) {
                guard poll(&poller, 1, 100) > 0 else { continue }
                var bytes = [UInt8](repeating: 0, count: 1 << 16)
                let count = recv(socket, &bytes, bytes.count, 0)
                guard count > 0 else { break }
                // Chunked transfer: each event is "data: {...}" on a line of its own, between
                // lines of chunk sizes. (Without the \r, "\r\n" would be one Character, not a "\n".)
                buffer += String(decoding: bytes[..<count], as: UTF8.self).replacingOccurrences(of: "\r", with: "")
                for line in buffer.split(separator: "\n", omittingEmptySubsequences: false).dropLast() where line.hasPrefix("data: ") {
                    if let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] { messages.append(object) }
                }
                if let last = buffer.lastIndex(of: "\n") { buffer = String(buffer[buffer.index(after: last)...]) }
            }
            return messages
        }
    }

    /// A run folder with one finished run (trained here) and a log of a run from elsewhere.
    static func folder() throws -> (folder: String, prefix: String) {
        let folder = try temporaryFolder()
        let trainer = try Trainer(spec: try NetSpec.parse(TrainingBoardTests.irisNet()), options: TrainingOptions(output: folder + "/iris"))
        try trainer.run()
        try "\(TrainingLog.header)\n100,1.0,2.0,0.1,0.5,,\n100,1.0,2.5,,,0.4,0.9\n".write(toFile: folder + "/other_log.csv", atomically: true, encoding: .utf8)
        return (folder, trainer.prefix)
    }

    @Test func theBoardServesItsPageRunsAndGraphs() async throws {
        let (folder, prefix) = try Self.folder()
        try await Self.serving([folder]) { port in
            let page = try await Self.get(port, "/")
            #expect(page.status == 200 && page.type.hasPrefix("text/html"))
            // Offline: the script and style are inline, nothing is loaded from elsewhere.
            #expect(page.body.contains("new EventSource(\"/events\")") && page.body.contains("svg.chart"))
            #expect(!page.body.contains("/*SCRIPT*/") && !page.body.contains("src=\"http") && !page.body.contains("href=\"http"))
            let runs = try #require(try JSONSerialization.jsonObject(with: Data(try await Self.get(port, "/runs").body.utf8)) as? [[String: Any]])
            #expect(runs.map { $0["prefix"] as? String } == [prefix, folder + "/other"])
            #expect(runs.map { $0["state"] as? String } == ["finished", "unknown"])
            let graph = try await Self.get(port, "/runs/r0/graph.svg")
            #expect(graph.status == 200 && graph.type == "image/svg+xml" && graph.body.hasPrefix("<svg") && graph.body.contains("SoftmaxWithLoss"))
            let missing = try await Self.get(port, "/runs/r1/graph.svg")
            #expect(missing.status == 404 && missing.body.contains("no graph for run 'r1'"))
            #expect(try await Self.get(port, "/no/such/page").status == 404)
        }
    }

    @Test func pagesGetTheHistoryThenWhatTheRunAppends() async throws {
        let (folder, prefix) = try Self.folder()
        try await Self.serving([folder]) { port in
            let stream = try EventStream(port: port)
            // The history: each run, its rows and its compacted record, its state.
            let history = await stream.read { $0.filter { $0["kind"] as? String == "state" }.count == 2 }
            let rows = history.filter { $0["kind"] as? String == "rows" && $0["run"] as? String == "r0" }.flatMap { $0["rows"] as! [[String: Any]] }
            let logged = try TrainingLog.read(path: prefix + "_log.csv")
            #expect(rows.map { $0["iteration"] as! Int } == logged.map(\.iteration))
            #expect(rows.compactMap { $0["test_accuracy"] as? Double } == logged.compactMap(\.testAccuracy))
            let records = history.filter { $0["kind"] as? String == "records" && $0["run"] as? String == "r0" }.flatMap { $0["records"] as! [[String: Any]] }
            #expect(records.map { $0["event"] as! String } == ["start", "test", "test", "snapshot", "layers", "status", "end"])
            try #require(records.count == 7)
            #expect(records[0]["graph_svg"] == nil)  // served at /runs/r0/graph.svg instead
            #expect(records[1]["pictures"] == nil && records[2]["pictures"] != nil)  // only the last test's

            // The run from elsewhere grows by a row: every page gets it.
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/other_log.csv"))
            try log.seekToEnd()
            try log.write(contentsOf: Data("200,2.0,4.0,0.1,0.25,,\n".utf8))
            try log.close()
            let growth = await stream.read { $0.contains { $0["kind"] as? String == "rows" } }
            let added = try #require(growth.first { $0["kind"] as? String == "rows" })
            #expect(added["run"] as? String == "r1" && (added["rows"] as? [[String: Any]])?.map { $0["train_loss"] as? Double } == [0.25])
        }
    }

    @Test func aRunWhoseProcessIsGoneWithoutAnEndDied() async throws {
        let folder = try temporaryFolder()
        // A record that starts, as a killed trainer leaves it: its process (here a `true`
        // that has exited) is gone.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let record = try TrainingRecord(path: folder + "/run_events.jsonl")
        try record.append("start", ["iteration": 0, "max_iter": 10, "batch": 1, "pid": Int(gone.processIdentifier), "host": ProcessInfo.processInfo.hostName])
        let alive = try TrainingRecord(path: folder + "/alive_events.jsonl")
        try alive.append("start", ["iteration": 0, "max_iter": 10, "batch": 1, "pid": Int(getpid()), "host": ProcessInfo.processInfo.hostName])
        try await Self.serving([folder]) { port in
            let runs = try #require(try JSONSerialization.jsonObject(with: Data(try await Self.get(port, "/runs").body.utf8)) as? [[String: Any]])
            // Named from the folder given down.
            let given = URL(fileURLWithPath: folder).lastPathComponent
            #expect(runs.map { "\($0["name"]!): \($0["state"]!)" } == ["\(given)/alive: running", "\(given)/run: died"])
            // The running one ends: the page is told.
            let stream = try EventStream(port: port)
            _ = await stream.read { $0.filter { $0["kind"] as? String == "state" }.count == 2 }
            try alive.append("end", ["iteration": 10, "outcome": "interrupted"])
            let states = await stream.read { $0.contains { $0["kind"] as? String == "state" } }.filter { $0["kind"] as? String == "state" }
            #expect(states.map { $0["state"] as? String } == ["interrupted"])
        }
    }

    /// Files anyone could have written: a FIFO named like a log (opening it would wait for a
    /// writer), a pid that fits no pid_t, a negative one, lines that are not JSON.
    @Test func handMadeRunFilesAreShownNotTrusted() async throws {
        let folder = try temporaryFolder()
        #expect(mkfifo(folder + "/fifo_log.csv", 0o600) == 0)
        try "{\"event\":\"start\",\"pid\":10000000000000,\"host\":\"\(ProcessInfo.processInfo.hostName)\"}\nnot json\n{\"event\":\n"
            .write(toFile: folder + "/huge_events.jsonl", atomically: true, encoding: .utf8)
        try "{\"event\":\"start\",\"pid\":-1,\"host\":\"\(ProcessInfo.processInfo.hostName)\"}\n"
            .write(toFile: folder + "/negative_events.jsonl", atomically: true, encoding: .utf8)
        try await Self.serving([folder]) { port in
            let runs = try #require(try JSONSerialization.jsonObject(with: Data(try await Self.get(port, "/runs").body.utf8)) as? [[String: Any]])
            #expect(runs.map { "\($0["name"]!): \($0["state"]!)" } == ["\(URL(fileURLWithPath: folder).lastPathComponent)/fifo: unknown",
                                                                     "\(URL(fileURLWithPath: folder).lastPathComponent)/huge: running",
                                                                     "\(URL(fileURLWithPath: folder).lastPathComponent)/negative: running"])
        }
    }

    @Test func badPathsAndABusyPortAreClearErrors() async throws {
        #expect { _ = try TrainingBoard(paths: ["/no/such/runs"]) } throws: { "\($0)".contains("'/no/such/runs' does not exist") }
        let empty = try temporaryFolder()
        #expect { _ = try TrainingBoard(paths: [empty]) } throws: { "\($0)".contains("holds no runs") }
        try "x".write(toFile: empty + "/notes.txt", atomically: true, encoding: .utf8)
        #expect { _ = try TrainingBoard(paths: [empty + "/notes.txt"]) } throws: { "\($0)".contains("is not a run") }
        let (folder, _) = try Self.folder()
        try await Self.serving([folder]) { port in
            let second = try TrainingBoard(paths: [folder], port: port)
            await #expect { try await second.run() } throws: { "\($0)".contains("port \(port) on 127.0.0.1 is in use") }
            // Garbage on a connection leaves the board serving.
            let stream = try EventStream(port: port)
            _ = "\u{1}\u{2} NOT HTTP\r\n\r\n".withCString { send(stream.socket, $0, strlen($0), 0) }
            #expect(try await Self.get(port, "/health").status == 200)
        }
    }
}

/// `swiftcaffe train --monitor` and `swiftcaffe board` as a user runs them.
@Suite(.serialized) struct MonitorCommandTests {
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try ServeLauncherTests.run(FuzzTests.binary, arguments)
    }

    static func net() throws -> (file: String, folder: String) {
        let folder = try temporaryFolder()
        try TrainingBoardTests.irisNet(maxIter: 40).write(toFile: folder + "/iris.yaml", atomically: true, encoding: .utf8)
        return (folder + "/iris.yaml", folder + "/runs")
    }

    /// A socket listening on a free loopback port, as another program holding it.
    static func busyPort() throws -> (socket: Int32, port: Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        _ = listen(listener, 1)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test func aMonitoredRunServesItsPageThenEnds() throws {
        let (net, runs) = try Self.net()
        let trained = try Self.run(["train", net, "--monitor", "0", "-o", runs])
        #expect(trained.status == 0, "\(trained.output)")
        let line = try #require(trained.output.split(separator: "\n").first { $0.hasPrefix("monitor: http://127.0.0.1:") }, "\(trained.output)")
        #expect(line.contains("swiftcaffe board \(runs)"))
        // The board has said how the run ended, and gone with it.
        let records = try TrainingBoardTests.records(runs + "/irisboard_events.jsonl")
        #expect(records.last?["outcome"] as? String == "finished")
        let port = try #require(Int(line.split(separator: ":")[3].prefix { $0.isNumber }))
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(probe) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(connected != 0)
    }

    @Test func aBusyPortStopsTheRunBeforeItTrains() throws {
        let (net, runs) = try Self.net()
        let (listener, port) = try Self.busyPort()
        defer { close(listener) }
        let refused = try Self.run(["train", net, "--monitor", "\(port)", "-o", runs])
        #expect(refused.status == 1)
        #expect(refused.output.contains("port \(port) on 127.0.0.1 is in use") && refused.output.contains("the monitor could not start"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: runs + "/irisboard_log.csv"))  // nothing trained

        for bad in ["abc", "70000", "host:", ":80", "a:b:1"] {
            let invalid = try Self.run(["train", net, "--monitor", bad])
            #expect(invalid.status == 64 && invalid.output.contains("--monitor takes PORT or HOST:PORT"), "\(bad): \(invalid.output)")
        }
    }

    @Test func boardHandsItsArgumentsToTheServerProgram() throws {
        let help = try Self.run(["board", "--help"])
        #expect(help.status == 0 && help.output.contains("USAGE: swiftcaffe board <runs> ...") && help.output.contains("--port"), "\(help.output)")
        let missing = try Self.run(["board", "/no/such/runs"])
        #expect(missing.status == 1 && missing.output.contains("'/no/such/runs' does not exist"), "\(missing.output)")
    }
}

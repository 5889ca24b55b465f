import Foundation
import SwiftCaffe

/// `train --monitor`: the board (`swiftcaffe-serve board --attached`) started beside the
/// run, serving its page for the run's prefix.
///
/// It is a process of its own, reading the files the run writes: nothing a browser does can
/// reach training, and the run's speed is that of a run without it (writing a byte per
/// recorded line aside). The trainer wakes it with a byte on its standard input after each
/// line it records (`Trainer.recorded`), and its exit closes that pipe, which is how the board learns that the
/// run is over, and whether it ended or died.
final class MonitorProcess {
    private let process = Process()
    private let wakeup: FileHandle
    let url: String

    /// Starts the board on `host:port` for the run at `prefix` and waits until it listens.
    /// A board that cannot listen (the port is in use) has said why on standard error; this
    /// then throws before any training.
    init(prefix: String, host: String, port: Int) throws {
        let program = ServerProgram.path
        guard FileManager.default.isExecutableFile(atPath: program) else { throw ServerProgram.missing("the monitor (--monitor)") }
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = ["board", prefix, "--host", host, "--port", "\(port)", "--attached"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        // A board that went away must not kill the trainer that writes to its pipe.
        signal(SIGPIPE, SIG_IGN)
        try process.run()
        wakeup = input.fileHandleForWriting
        _ = fcntl(wakeup.fileDescriptor, F_SETFL, fcntl(wakeup.fileDescriptor, F_GETFL) | O_NONBLOCK)
        // Its first line says where it listens; end of file, that it could not.
        let line = Self.firstLine(of: output.fileHandleForReading.fileDescriptor, seconds: 60)
        guard let line, line.hasPrefix("monitor: ") else {
            process.terminate()
            process.waitUntilExit()
            throw SwiftCaffeError("the monitor could not start on \(host):\(port)\(line.map { ": \($0)" } ?? " (its error is above)")",
                                  hint: "choose another port with --monitor PORT (0 takes any free one), or train without --monitor")
        }
        url = String(line.dropFirst("monitor: ".count))
    }

    /// After each recorded event: one byte. A full pipe already holds a wake-up, so one that
    /// does not fit is dropped rather than waited for.
    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeup.fileDescriptor, &byte, 1)
    }

    /// The run is over: closing the pipe tells the board, which tells the pages and exits.
    /// Waits for that, a few seconds at most.
    func finish() {
        try? wakeup.close()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }

    private static func firstLine(of descriptor: Int32, seconds: Double) -> String? {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while Date() < deadline {
            guard poll(&poller, 1, 100) > 0 else { continue }
            var byte: UInt8 = 0
            let count = read(descriptor, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == 10 { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
        return nil
    }
}

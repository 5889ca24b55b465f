import ArgumentParser
import Foundation
import SwiftCaffe
import SwiftCaffeCLI
import SwiftCaffeServe

/// `swiftcaffe board` (and, with `--attached`, what `train --monitor` starts): a page that shows
/// training runs from their logs and records, live while they train (`TrainingBoard`).
struct BoardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftcaffe board",
        abstract: "Show training runs in a browser: curves (several runs overlaid), state, layers, filters, feature maps, confusion matrix and graph.",
        discussion: """
        RUNS are folders that 'swiftcaffe train' wrote to (searched two levels
        down), log files (<prefix>_log.csv) or run prefixes (runs/lenet). Runs
        that are still training update as they go. 'swiftcaffe train NET
        --monitor PORT' serves the same page for the run it trains.

        Example:
          swiftcaffe board runs/ --port 6006
          # then open http://127.0.0.1:6006/
        """
    )

    @Argument(help: "Run folders, log files or run prefixes.")
    var runs: [String]

    @Option(help: "The address to listen on (0.0.0.0 for every interface).")
    var host = "127.0.0.1"

    @Option(help: "The port (0: any free port, printed once listening).")
    var port = 6006

    /// `train --monitor`: standard input is the trainer's pipe; stop when it closes.
    @Flag(help: .hidden)
    var attached = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard !runs.isEmpty else { throw ValidationError("give at least one run folder, log or prefix") }
    }

    func run() throws {
        try reportingErrors {
            // The trainer handles Ctrl-C (it snapshots, then exits, closing the pipe): the board
            // it started must outlive that long enough to say how the run ended.
            if attached { signal(SIGINT, SIG_IGN) }
            let board = try TrainingBoard(paths: runs, host: host, port: port,
                                          following: attached ? .attached(linger: 1.5) : .polling(interval: 0.5))
            let host = self.host, count = board.runs.count, attached = self.attached
            try board.runBlocking { port in
                let url = "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)/"
                printLine(attached ? "monitor: \(url)" : "showing \(count) run\(count == 1 ? "" : "s") at \(url)")
            }
        }
    }
}

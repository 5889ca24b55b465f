import ArgumentParser
import Foundation
import SwiftCaffe

/// The `swiftcaffe` command line. A package with its own layers registers them with
/// `LayerRegistry.register` and then calls `SwiftCaffeCommand.main()` to get every subcommand.
public struct SwiftCaffeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "swiftcaffe",
        abstract: "Train and test Caffe-style nets written in YAML.",
        subcommands: [TrainCommand.self, TestCommand.self, TimeCommand.self, SummaryCommand.self, DrawCommand.self, GradcheckCommand.self, PlotCommand.self]
    )

    public init() {}
}

/// Options every subcommand that runs a net shares.
struct RuntimeOptions: ParsableArguments {
    @Option(help: "Threads for BLAS and SwiftCaffe's own kernels (default: all cores).")
    var threads: Int?

    /// Runs a subcommand's `body` with the requested thread count, reporting its errors.
    func run(_ body: () throws -> Void) throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        try Parallel.withThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount) {
            try reportingErrors(body)
        }
    }
}

/// Runs `body`, printing a SwiftCaffeError as the one-line `file:line:col: error: ...` message
/// and exiting with status 1 instead of a stack trace.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as SwiftCaffeError {
        FileHandle.standardError.write(Data((error.description + "\n").utf8))
        throw ExitCode(1)
    }
}

func printLine(_ text: String) {
    print(text)
    fflush(nil)  // all streams; `stdout` itself is not concurrency-safe to name in Swift 6
}

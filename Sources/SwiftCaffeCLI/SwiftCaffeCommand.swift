import ArgumentParser
import CaffeInterop
import ONNXInterop
import Foundation
import SwiftCaffe

/// The `swiftcaffe` command line. A package with its own layers registers them with
/// `LayerRegistry.register` and then calls `SwiftCaffeCommand.main()` to get every subcommand.
public struct SwiftCaffeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "swiftcaffe",
        abstract: "Train and test Caffe-style nets written in YAML, or Caffe's own prototxt files.",
        version: version,
        subcommands: [TrainCommand.self, TestCommand.self, ClassifyCommand.self, ForwardCommand.self, ConvertCommand.self, ConvertImagesetCommand.self, ComputeImageMeanCommand.self, VisualizeCommand.self, TimeCommand.self, SummaryCommand.self, DrawCommand.self, GradcheckCommand.self, JVPCommand.self, SampleCommand.self, PlotCommand.self, ServeLauncher.self, BoardLauncher.self]
    )

    /// The release, printed by `swiftcaffe --version`.
    public static let version = SwiftCaffeVersion.current

    public init() {}

    /// Registers the file formats the command line reads (Caffe's), then parses the
    /// arguments (Caffe's spellings translated: `CaffeFlags`) and runs the subcommand they
    /// name, exiting with its status. An error is reported with the subcommand's usage.
    public static func main(_ arguments: [String]? = nil) {
        CaffeFormats.register()
        ONNXFormats.register()
        var command: (any ParsableCommand)?
        do {
            let given = arguments ?? Array(CommandLine.arguments.dropFirst())
            try refuseUnknownSubcommand(given)
            command = try parseAsRoot(try CaffeFlags.translate(given))
            try command!.run()
        } catch {
            // After parsing, the subcommand's error with a pointer to its own help (the
            // root's usage, which exit(withError:) would print, answers another question).
            if let code = error as? ExitCode { Foundation.exit(code.rawValue) }  // already reported (reportingErrors)
            if let command, exitCode(for: error) != .success, let name = type(of: command).configuration.commandName {
                FileHandle.standardError.write(Data("error: \(message(for: error))\nSee 'swiftcaffe \(name) --help' for its options.\n".utf8))
                Foundation.exit(exitCode(for: error).rawValue)
            }
            exit(withError: error)
        }
    }

    /// `swiftcaffe trian ...`: the parser would take 'trian' for an unexpected argument; say
    /// which command was meant instead.
    static func refuseUnknownSubcommand(_ arguments: [String]) throws {
        guard let first = arguments.first, !first.hasPrefix("-"), first != "help" else { return }
        let names = configuration.subcommands.map { $0.configuration.commandName ?? "" }
        guard !names.contains(first) else { return }
        let closest = names.min { editDistance($0, first) < editDistance($1, first) }
        let suggestion = closest.flatMap { editDistance($0, first) <= 2 ? "; did you mean '\($0)'?" : nil } ?? ""
        throw ValidationError("unknown command '\(bounded(first))'\(suggestion) The commands are \(names.joined(separator: ", ")).")
    }

    /// Levenshtein distance: insertions, deletions and substitutions of one character.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

/// Which layers of a Caffe net exist (its include/exclude rules by stage and level), for every
/// subcommand that reads a net file.
struct NetStateOptions: ParsableArguments {
    @Option(name: .customLong("stage"), help: "A net stage, for Caffe nets' include/exclude rules (repeatable, or comma-separated).")
    var stages: [String] = []

    @Option(help: "The net level, for Caffe nets' include/exclude rules.")
    var level: Int = 0

    /// The stages and level as the net loader takes them.
    var state: NetState { NetState(level: level, stages: stages.flatMap { $0.split(separator: ",").map(String.init) }) }

    /// The net (or solver) file at `path`, with these stages and this level.
    /// Prints what the file says that is ignored, unless `quiet` (the ranks but rank 0).
    func load(_ path: String, quiet: Bool = false) throws -> NetSpec {
        let spec = try NetSpec.load(path: path, state: state)
        if !quiet { for warning in spec.warnings { FileHandle.standardError.write(Data((warning + "\n").utf8)) } }
        return spec
    }
}

/// Options every subcommand that runs a net shares.
package struct RuntimeOptions: ParsableArguments {
    package init() {}

    @Option(help: "Threads for BLAS and SwiftCaffe's own kernels (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("memory-limit"), help: "Refuse nets that would take the process past this much memory, e.g. 4G or 512M (default: physical memory and ulimit -v).")
    var memoryLimit: String?

    /// All cores, shared among the ranks on this machine when started by mpirun (which binds
    /// each rank to its share of the cores by default).
    static var defaultThreads: Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let ranksHere = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1
        return max(1, cores / max(ranksHere, 1))
    }

    /// Runs a subcommand's `body` with the requested thread count and memory limit, reporting its errors.
    package func run(_ body: () throws -> Void) throws {
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be between 1 and 1024") }
        if let memoryLimit {
            guard let bytes = MemoryBudget.parse(memoryLimit) else {
                throw ValidationError("--memory-limit '\(bounded(memoryLimit))' is not a size; write it like 4G, 512M or 1000000")
            }
            MemoryBudget.limit = bytes
        }
        try Parallel.withThreads(threads ?? Self.defaultThreads) {
            try reportingErrors(body)
        }
    }
}

/// Runs `body`, printing a SwiftCaffeError as the one-line `file:line:col: error: ...` message
/// and exiting with status 1 instead of a stack trace.
package func reportingErrors(_ body: () throws -> Void) throws {
    // A write past a file-size limit (`ulimit -f`) then fails with EFBIG and becomes an error
    // naming the file, like a full disk, instead of a signal that kills the process mid-write.
    signal(SIGXFSZ, SIG_IGN)
    do {
        try body()
    } catch let error as SwiftCaffeError {
        FileHandle.standardError.write(Data((error.description + "\n").utf8))
        throw ExitCode(1)
    }
}

package func printLine(_ text: String) {
    print(text)
    fflush(nil)  // all streams; `stdout` itself is not concurrency-safe to name in Swift 6
}

/// A value from the command line quoted in a message, cut to a readable length.
func bounded(_ text: String) -> String { text.count > 80 ? String(text.prefix(80)) + "…" : text }

/// Prints a net's warnings on standard error.
func printWarnings(of net: Net) {
    for warning in net.warnings { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
}

/// Whether `error` says a data layer of `spec` found no file where its data should be:
/// `draw` and `summary` then show the graph without the shapes, which only the data can
/// give. A file that is there but damaged, or too large, stays an error: bad input is never
/// passed over with exit status 0. (`FileChecks` words a missing file "no such file".)
func isMissingDataError(_ error: SwiftCaffeError, in spec: NetSpec) -> Bool {
    error.message.contains("no such file") && spec.layers.contains { layer in
        error.layer == layer.description && (LayerRegistry.type(named: layer.type).map { $0 is any DataSource.Type } ?? false)
    }
}

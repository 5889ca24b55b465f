import ArgumentParser
import Foundation

/// The commands that serve HTTP live in a program of their own, `swiftcaffe-serve`, beside
/// this one: its HTTP stack (SwiftNIO, Hummingbird) is a build of its own (see Package.swift),
/// which neither `swiftcaffe` nor a package that extends the command line needs to carry.
enum ServerProgram {
    /// Beside this program, as `swift build` puts both.
    static var path: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("swiftcaffe-serve").path
    }

    /// The error when it is not there, for `what` ("the model server").
    static func missing(_ what: String) -> ValidationError {
        ValidationError("\(what) is in a program of its own, and '\(path)' is not there: build it in SwiftCaffe's checkout with 'swift build -c release --product swiftcaffe-serve' (a package with its own layers serves them from a program over ModelServer: docs/serving.md)")
    }

    /// Replaces this process with the server program and `arguments`.
    static func exec(_ arguments: [String], what: String) throws -> Never {
        guard FileManager.default.isExecutableFile(atPath: path) else { throw missing(what) }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        throw ValidationError("cannot start '\(path)': \(String(cString: strerror(errno)))")
    }
}

/// `swiftcaffe serve`: the model server. Every argument, `--help` included, goes to it unread.
struct ServeLauncher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the trained nets of a model repository over HTTP (KServe's v2 protocol, as Triton's clients speak it).",
        discussion: "Runs the swiftcaffe-serve program beside this one; 'swiftcaffe serve --help' lists its options (docs/serving.md).",
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "MODEL_REPOSITORY and the server's options.")
    var arguments: [String] = []

    func run() throws { try ServerProgram.exec(arguments, what: "the model server") }
}

/// `swiftcaffe board`: the training board, `swiftcaffe-serve board`.
struct BoardLauncher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "board",
        abstract: "Show training runs in a browser, live while they train: curves of several runs, layers, filters, feature maps, confusion matrix, graph.",
        discussion: "Runs 'swiftcaffe-serve board' beside this program; 'swiftcaffe board --help' lists its options (docs/monitor.md).",
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "RUNS (folders, logs or prefixes) and the board's options.")
    var arguments: [String] = []

    func run() throws { try ServerProgram.exec(["board"] + arguments, what: "the board") }
}

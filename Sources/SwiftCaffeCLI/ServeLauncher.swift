import ArgumentParser
import Foundation

/// `swiftcaffe serve`: starts the model server, `swiftcaffe-serve`, which lives beside this
/// program (its HTTP stack is a build of its own; see Package.swift). Every argument, `--help`
/// included, goes to it unread.
struct ServeLauncher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the trained nets of a model repository over HTTP (KServe's v2 protocol, as Triton's clients speak it).",
        discussion: "Runs the swiftcaffe-serve program beside this one; 'swiftcaffe serve --help' lists its options (docs/serving.md).",
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "MODEL_REPOSITORY and the server's options.")
    var arguments: [String] = []

    /// The server program: beside this one (as `swift build` puts both).
    static var serverPath: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("swiftcaffe-serve").path
    }

    func run() throws {
        let path = Self.serverPath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("the model server is a program of its own, and '\(path)' is not there: build it in SwiftCaffe's checkout with 'swift build -c release --product swiftcaffe-serve' (a package with its own layers serves them from a program over ModelServer: docs/serving.md)")
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        throw ValidationError("cannot start '\(path)': \(String(cString: strerror(errno)))")
    }
}

import Foundation
import SwiftCaffe

/// A picture rendered by a program of its own, as `draw` renders with Graphviz's `dot` and
/// `plot` a PNG with librsvg's `rsvg-convert`: neither is needed for anything else, so they
/// stay optional, and a missing one is an error that names its Debian package.
enum ExternalRenderer {
    /// `tool arguments`, fed `input` on standard input; returns what it writes. `output` is
    /// the file being written, for the messages.
    static func run(_ tool: String, _ arguments: [String], input: [UInt8], package: String, output: String) throws -> [UInt8] {
        guard let program = path(of: tool) else {
            throw SwiftCaffeError("'\(tool)' is not installed, so '\(output)' cannot be rendered",
                                  hint: "apt-get install \(package), or write an .svg (or .dot) file instead")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        // Written from another thread: a tool that writes as it reads would otherwise fill its
        // output pipe while we are still writing its input, and both would wait forever.
        let writer = Thread { stdin.fileHandleForWriting.write(Data(input)); try? stdin.fileHandleForWriting.close() }
        writer.start()
        let bytes = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SwiftCaffeError("\(tool) failed to render '\(output)' (status \(process.terminationStatus))") }
        return [UInt8](bytes)
    }

    /// Where `tool` is on the PATH, if anywhere.
    static func path(of tool: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/\(tool)" }
        return paths.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func isInstalled(_ tool: String) -> Bool { path(of: tool) != nil }
}

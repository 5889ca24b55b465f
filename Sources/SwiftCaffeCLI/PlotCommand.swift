import ArgumentParser
import Foundation
import SwiftCaffe

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw loss and accuracy curves from training logs as an SVG or PNG picture.",
        discussion: "Give several logs to compare runs on one plot; each gets its own colour."
    )

    @Argument(help: "Training logs (<prefix>_log.csv, written by train).")
    var logs: [String]

    @Option(name: .shortAndLong, help: "The picture to write: .svg, or .png (rendered by rsvg-convert, Debian's librsvg2-bin).")
    var output: String

    @Option(help: "Horizontal axis: iteration or seconds.")
    var x: TrainingPlot.Axis = .iteration

    func validate() throws {
        if logs.isEmpty { throw ValidationError("give at least one log") }
        if !["svg", "png"].contains(URL(fileURLWithPath: output).pathExtension.lowercased()) {
            throw ValidationError("write an .svg or .png file")
        }
    }

    func run() throws {
        try reportingErrors {
            let plot = try TrainingPlot(logs: logs, axis: x)
            let svg = Array(plot.svg().utf8)
            let png = URL(fileURLWithPath: output).pathExtension.lowercased() == "png"
            try AtomicFile.write(png ? try ExternalRenderer.run("rsvg-convert", ["--format=png"], input: svg, package: "librsvg2-bin", output: output) : svg,
                                 to: output)
            printLine("wrote \(output)")
        }
    }
}

extension TrainingPlot.Axis: ExpressibleByArgument {}

import ArgumentParser
import Foundation
import SwiftCaffe

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw loss and accuracy curves from training logs as an SVG picture.",
        discussion: "Give several logs to compare runs on one plot; each gets its own colour."
    )

    @Argument(help: "Training logs (<prefix>_log.csv, written by train).")
    var logs: [String]

    @Option(name: .shortAndLong, help: "The picture to write (.svg).")
    var output: String

    @Option(help: "Horizontal axis: iteration or seconds.")
    var x: TrainingPlot.Axis = .iteration

    func validate() throws {
        if logs.isEmpty { throw ValidationError("give at least one log") }
        if !output.lowercased().hasSuffix(".svg") {
            throw ValidationError("write an .svg file (for a PNG, convert it, e.g. rsvg-convert curves.svg > curves.png)")
        }
    }

    func run() throws {
        try reportingErrors {
            let plot = try TrainingPlot(logs: logs, axis: x)
            try AtomicFile.write(Array(plot.svg().utf8), to: output)
            printLine("wrote \(output)")
        }
    }
}

extension TrainingPlot.Axis: ExpressibleByArgument {}

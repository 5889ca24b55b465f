import ArgumentParser
import Foundation
import SwiftCaffe

struct DrawCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draw",
        abstract: "Draw a net's graph: Graphviz DOT, or SVG/PNG rendered with Graphviz's dot.",
        discussion: "PNG needs Debian's graphviz package (apt-get install graphviz); without it, SVG is laid out by SwiftCaffe itself (the drawing the training monitor shows); .dot needs nothing."
    )

    @Argument(help: "The net file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(name: .shortAndLong, help: "The file to write: .dot, .svg or .png.")
    var output: String

    @Option(help: "Which net: train or test.")
    var phase: Phase = .train

    func validate() throws {
        guard ["dot", "gv", "svg", "png"].contains(URL(fileURLWithPath: output).pathExtension.lowercased()) else {
            throw ValidationError("write a .dot, .svg or .png file")
        }
    }

    func run() throws {
        try reportingErrors {
            let spec = try netState.load(net)
            let format = URL(fileURLWithPath: output).pathExtension.lowercased()
            // Without Graphviz, SVG is laid out here.
            let ownSVG = format == "svg" && !ExternalRenderer.isInstalled("dot")
            let graph: String
            do {
                let plan = try NetPlan(spec: spec, options: NetOptions(phase: phase))
                graph = ownSVG ? NetDiagram.svg(plan) : NetDiagram.dot(plan)
            } catch let error as SwiftCaffeError where isMissingDataError(error, in: spec) {
                // A data layer takes its shape from its file: without the files, the graph
                // is still worth drawing, without shapes.
                let layers = spec.layers.filter { $0.phase == nil || $0.phase == phase }
                let schedule = try NetSchedule.schedule(layers)
                graph = ownSVG ? NetDiagram.svg(schedule: schedule, name: spec.name) : NetDiagram.dot(schedule: schedule, name: spec.name)
                FileHandle.standardError.write(Data("note: drawn without blob shapes, which need the data: \(error.message)\n".utf8))
            }
            if format == "dot" || format == "gv" || ownSVG {
                try AtomicFile.write(Array(graph.utf8), to: output)
            } else {
                try AtomicFile.write(try render(graph, format: format), to: output)
            }
            printLine("wrote \(output)")
        }
    }

    /// Pipes the graph through Graphviz's `dot -T<format>`.
    private func render(_ graph: String, format: String) throws -> [UInt8] {
        try ExternalRenderer.run("dot", ["-T\(format)"], input: Array(graph.utf8), package: "graphviz", output: output)
    }
}

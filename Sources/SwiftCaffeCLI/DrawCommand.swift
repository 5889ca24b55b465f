import ArgumentParser
import Foundation
import SwiftCaffe

struct DrawCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draw",
        abstract: "Draw a net's graph: Graphviz DOT, or SVG/PNG rendered with Graphviz's dot.",
        discussion: "Rendering needs Debian's graphviz package (apt-get install graphviz); .dot needs nothing."
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
            let graph: String
            do {
                graph = NetDiagram.dot(try NetPlan(spec: spec, options: NetOptions(phase: phase)))
            } catch let error as SwiftCaffeError where isMissingDataError(error, in: spec) {
                // A data layer takes its shape from its file: without the files, the graph
                // is still worth drawing, without shapes.
                let layers = spec.layers.filter { $0.phase == nil || $0.phase == phase }
                graph = NetDiagram.dot(schedule: try NetSchedule.schedule(layers), name: spec.name)
                FileHandle.standardError.write(Data("note: drawn without blob shapes, which need the data: \(error.message)\n".utf8))
            }
            let format = URL(fileURLWithPath: output).pathExtension.lowercased()
            if format == "dot" || format == "gv" {
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

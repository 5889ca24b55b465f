import ArgumentParser
import Foundation
import SwiftCaffe

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "List a net's layers with shapes, parameters, FLOPs and memory."
    )

    @Argument(help: "The net file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "Which net: train or test.")
    var phase: Phase = .train

    @OptionGroup var output: JSONOption

    func run() throws {
        try reportingErrors {
            let spec = try netState.load(net)
            let plan: NetPlan
            do {
                plan = try NetPlan(spec: spec, options: NetOptions(phase: phase))
            } catch let error as SwiftCaffeError where isMissingDataError(error, in: spec) {
                try printWithoutData(spec, because: error)
                return
            }
            if output.json {
                let summary = NetSummary(plan)
                printJSON([
                    "net": spec.name, "phase": phase.rawValue, "batch": summary.batchSize ?? NSNull(),
                    "layers": summary.rows.map { row in
                        ["name": row.name, "type": row.type, "bottoms": row.bottoms, "tops": row.tops, "top_shapes": row.topShapes,
                         "parameters": row.parameters, "forward_flops": row.forwardFLOPs, "activation_bytes": row.activationBytes] as [String: Any]
                    },
                    "parameters": summary.totalParameters, "trainable_parameters": summary.trainableParameters,
                    "frozen_parameters": summary.totalParameters - summary.trainableParameters,
                    "forward_flops": summary.totalFLOPs, "activation_bytes": summary.totalActivationBytes,
                    "memory_bytes": summary.memory.totalBytes,
                ])
                return
            }
            printLine("\(spec.name) (\(phase) phase)")
            printLine(NetSummary(plan).table)
            if phase == .test {  // as `test` and `classify` build it
                let inference = try NetPlan(spec: spec, options: NetOptions(phase: .test, purpose: .inference))
                printLine(NetSummary.inferenceLine(inference))
            }
        }
    }
}

extension SummaryCommand {
    /// The layers in execution order with what they read and write: what a net's file says
    /// without its data. Shapes, parameters, FLOPs and memory need the data layers' files.
    private func printWithoutData(_ spec: NetSpec, because error: SwiftCaffeError) throws {
        let schedule = try NetSchedule.schedule(spec.layers.filter { $0.phase == nil || $0.phase == phase })
            .filter { $0.spec.type != "Split" }
        FileHandle.standardError.write(Data("note: without shapes, parameters and FLOPs, which need the data: \(error.message)\n".utf8))
        if output.json {
            printJSON(["net": spec.name, "phase": phase.rawValue, "shapes_known": false,
                       "layers": schedule.map { ["name": $0.spec.name, "type": $0.spec.type, "bottoms": $0.bottoms, "tops": $0.tops] as [String: Any] }])
            return
        }
        printLine("\(spec.name) (\(phase) phase, without its data)")
        let rows = [["layer", "type", "bottoms -> tops"]] + schedule.map {
            [$0.spec.name, $0.spec.type, NetSummary.listed($0.bottoms) + " -> " + NetSummary.listed($0.tops)]
        }
        let widths = (0..<3).map { column in min(rows.map { $0[column].count }.max() ?? 0, 80) }
        for row in rows {
            let line = row.enumerated().map { $1 + String(repeating: " ", count: max(widths[$0] - $1.count, 0)) }.joined(separator: "  ")
            printLine(String(line.reversed().drop { $0 == " " }.reversed()))
        }
    }
}

extension Phase: ExpressibleByArgument {}

import ArgumentParser
import Foundation
import SwiftCaffe

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "List a net's layers with shapes, parameters, FLOPs and memory."
    )

    @Argument(help: "The net file: YAML, or Caffe's .prototxt.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "Which net: train or test.")
    var phase: Phase = .train

    @OptionGroup var output: JSONOption

    func run() throws {
        try reportingErrors {
            let spec = try netState.load(net)
            let plan = try NetPlan(spec: spec, options: NetOptions(phase: phase))
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

extension Phase: ExpressibleByArgument {}

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

    func run() throws {
        try reportingErrors {
            let spec = try netState.load(net)
            let plan = try NetPlan(spec: spec, options: NetOptions(phase: phase))
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

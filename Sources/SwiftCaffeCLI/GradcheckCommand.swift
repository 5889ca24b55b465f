import ArgumentParser
import Foundation
import SwiftCaffe

struct GradcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Check every layer's backward pass against finite differences on the net's shapes.",
        discussion: """
        The net runs forward once on a small batch of its own data (--batch), so every
        layer sees its real shapes. Each layer is then checked on its own: bottoms that
        take a gradient get random values of magnitude 0.05 to 1 (away from the kinks of
        ReLU and max pooling), images and labels keep theirs. Layers with forward mode
        also get the adjoint test. Exits with status 1 when any layer fails.
        """
    )

    @Argument(help: "The net file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "Check only this layer.")
    var layer: String?

    @Option(help: "Finite-difference step.")
    var step: Float = 1e-2

    @Option(help: "Allowed error, relative to max(|analytic|, |numeric|, 1).")
    var tolerance: Float = 1e-3

    @Option(help: "Samples per blob in the check.")
    var batch: Int = 2

    @Option(name: .customLong("max-elements"), help: "Check at most this many elements of each blob (spread evenly).")
    var maxElements: Int = 400

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if !(step > 0 && step.isFinite) { throw ValidationError("--step must be positive") }
        if !(tolerance > 0 && tolerance.isFinite) { throw ValidationError("--tolerance must be positive") }
        if !(1...1_000_000).contains(batch) || !(1...1_000_000_000).contains(maxElements) {
            throw ValidationError("--batch must be in [1, 1000000] and --max-elements in [1, 1000000000]")
        }
    }

    func run() throws {
        var failed = false
        try runtime.run {
            var checker = GradientChecker(step: step, tolerance: tolerance)
            checker.maxElements = maxElements
            let spec = try netState.load(net)
            let reports = try NetGradientCheck.run(spec, layer: layer, batch: batch, checker: checker)
            let rows = reports.flatMap { report in
                report.results.map { [report.layer, report.type, $0.blob, "\($0.checked)", String(format: "%.2e", $0.maxAbsoluteError),
                                      String(format: "%.2e", $0.maxRelativeError), $0.passed ? "pass" : "FAIL"] }
            }
            let header = ["layer", "type", "blob", "checked", "max abs err", "max rel err", "result"]
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                printLine(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
            // The adjoint test of forward against reverse mode, per layer.
            printLine("")
            for report in reports {
                let verdict = report.adjoint.map { String(format: "adjoint test: relative error %.2e  %@", $0.relativeError, $0.passed ? "pass" : "FAIL") }
                    ?? "adjoint test: no forward mode (not checked)"
                printLine(report.layer.padding(toLength: widths[0], withPad: " ", startingAt: 0) + "  " + verdict)
            }
            for report in reports { for result in report.results where !result.passed { printLine("\(report.layer): \(result)") } }
            for report in reports { if let adjoint = report.adjoint, !adjoint.passed { printLine("\(report.layer): adjoint test: \(adjoint)") } }
            failed = reports.contains { !$0.passed }
            // The whole net, along its parameters and its data, unless one layer is asked for.
            if layer == nil {
                let (result, inputs, missing) = try NetGradientCheck.wholeNet(spec)
                if let result {
                    printLine(String(format: "whole net (parameters%@): adjoint test: relative error %.2e  %@",
                                     inputs.isEmpty ? "" : " and " + inputs.joined(separator: ", "), result.relativeError, result.passed ? "pass" : "FAIL"))
                    if !result.passed { failed = true }
                } else {
                    printLine("whole net: adjoint test not checked: \(missing?.spec.description ?? "a layer") has no forward mode")
                }
            }
            printLine(failed ? "gradient check FAILED" : "all \(reports.count) layers pass")
        }
        if failed { throw ExitCode(1) }
    }
}

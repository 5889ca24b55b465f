import ArgumentParser
import Foundation
import SwiftCaffe
import SwiftCaffeDistributed

/// `caffe time`: how long each layer takes forward and backward, averaged over iterations.
struct TimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "time",
        abstract: "Time forward and backward passes, per layer and for the whole net.",
        discussion: """
        The first --warmup iterations are run but not counted. Backward runs in the train phase only. \
        Under mpirun each backward is followed by summing the gradients over the ranks, timed on its own.
        """
    )

    @Argument(help: "The net file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "Timed iterations.")
    var iterations: Int = 50

    @Option(help: "Untimed warm-up iterations before them.")
    var warmup: Int = 5

    @Option(help: "Which net to time: train (forward + backward) or test (forward only).")
    var phase: String = "train"

    @OptionGroup var output: JSONOption

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        let limit = SolverSpec.iterationLimit
        if !(1...limit).contains(iterations) { throw ValidationError("--iterations must be in [1, \(limit)]") }
        if !(0...limit).contains(warmup) { throw ValidationError("--warmup must be in [0, \(limit)]") }
        if Phase(rawValue: phase) == nil { throw ValidationError("--phase must be train or test") }
    }

    func run() throws {
        var sync: MPIProcessGroup?
        if MPIProcessGroup.isLaunchedByMPI { try reportingErrors { sync = try MPIProcessGroup() } }
        defer { sync?.finish() }
        try runtime.run {
            let spec = try netState.load(net)
            let phase = Phase(rawValue: self.phase)!
            let group: any ProcessGroup = sync ?? SingleProcess()
            // Each phase is timed as it runs: the test phase as `test` and `classify` run it (forward
            // only, folded for inference), the train phase as `train` runs it (folded for training).
            let net = try Net(spec: spec, options: NetOptions(phase: phase, seed: spec.solver?.randomSeed ?? 1, purpose: phase == .test ? .inference : .training,
                                                              shard: group.shard))
            let fused = net.plan.folded.map { (layer: $0.layer.name, into: $0.into) }
            let timing = try LayerTiming.measure(net, iterations: iterations, warmup: warmup, backward: phase == .train,
                                                 group: group)
            let batch = net.dataSources.first?.batchSize ?? net.tops.first?.first?.shape.first ?? 1
            if group.rank == 0 && output.json {
                let milliseconds = 1000.0
                printJSON([
                    "net": spec.name, "phase": phase.rawValue, "batch": batch, "iterations": iterations, "threads": Parallel.threads,
                    "layers": net.layers.indices.map { index in
                        ["name": net.layers[index].name, "type": net.layers[index].spec.type,
                         "forward_ms": jsonNumber(timing.forward[index] * milliseconds),
                         "backward_ms": jsonNumber(timing.backward[index] * milliseconds)] as [String: Any]
                    },
                    "forward_ms": jsonNumber(timing.forwardTotal * milliseconds), "backward_ms": jsonNumber(timing.backwardTotal * milliseconds),
                    "gradient_sum_ms": jsonNumber(timing.gradientSum * milliseconds),
                    "samples_per_second": jsonNumber(Double(batch) / max(timing.forwardTotal + timing.backwardTotal + timing.gradientSum, 1e-12)),
                    "peak_rss_bytes": ProcessMemory.peakResidentBytes ?? NSNull(),
                    "folded": fused.map { ["layer": $0.layer, "into": $0.into] }, "blas_kernels": OpenBLASKernels.current,
                ])
            } else if group.rank == 0 {
                printLine(timing.table(net: net, batchSize: batch))
                if !fused.isEmpty {  // all of them for a small net; a deep one's would fill the screen
                    let shown = fused.prefix(12).map { "\($0.layer) into \($0.into)" }.joined(separator: ", ")
                    printLine("folded \(fused.count) layers: " + shown + (fused.count > 12 ? ", ..." : ""))
                }
                printLine("OpenBLAS kernels: \(OpenBLASKernels.current), \(Parallel.threads) thread(s)")
            }
        }
    }
}

import Foundation
import SwiftCaffeCore

/// Per-layer forward and backward times of a net, as `caffe time` reports them.
public struct LayerTiming {
    public var forward: [Double]
    public var backward: [Double]
    public var iterations: Int
    /// Whole passes, timed separately from the per-layer sum.
    public var forwardTotal: Double
    public var backwardTotal: Double
    /// Data-parallel training: seconds per iteration summing the gradients over `ranks`
    /// ranks after backward, none of it hidden behind computation (training overlaps it with
    /// backward, so this is the most it can cost), and the bytes each rank contributes.
    public var gradientSum = 0.0
    public var gradientBytes = 0
    public var ranks = 1
    /// Data layers that prepare batches on a background thread: seconds per batch it took
    /// there, and seconds per batch forward still waited for it (included in `forward`).
    public var prefetching: [(layer: String, preparing: Double, waiting: Double)] = []

    /// Runs `warmup` untimed iterations, then `iterations` timed ones; all times in seconds per
    /// iteration. In a group of several ranks, each backward is followed by summing the
    /// gradients over them.
    public static func measure(_ net: Net, iterations: Int, warmup: Int, backward: Bool, group: any ProcessGroup = SingleProcess()) throws -> LayerTiming {
        let gradients = net.parameters.filter { $0.lrMult > 0 }.map(\.blob)
        func sumGradients() throws {
            guard backward else { return }
            try group.startSumming(gradients)
            try group.finishSumming()
        }
        let count = net.layers.count
        for _ in 0..<warmup {
            try net.forward()
            if backward { net.zeroParameterDiffs(); net.backward() }
            try sumGradients()
        }
        var forward = [Double](repeating: 0, count: count)
        var backwardTimes = [Double](repeating: 0, count: count)
        var forwardTotal = 0.0, backwardTotal = 0.0, gradientSum = 0.0
        let prefetchers = net.dataSources.filter { $0.prefetchStatistics != nil }
        let before = prefetchers.map { $0.prefetchStatistics! }
        for _ in 0..<iterations {
            let passStart = DispatchTime.now().uptimeNanoseconds
            for index in 0..<count {
                let start = DispatchTime.now().uptimeNanoseconds
                try net.forwardLayer(at: index)
                forward[index] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            }
            let middle = DispatchTime.now().uptimeNanoseconds
            forwardTotal += Double(middle - passStart) * 1e-9
            if backward {
                net.zeroParameterDiffs()
                net.seedLossDiffs()
                for index in (0..<count).reversed() {
                    let start = DispatchTime.now().uptimeNanoseconds
                    net.backwardLayer(at: index)
                    backwardTimes[index] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
                }
                backwardTotal += Double(DispatchTime.now().uptimeNanoseconds - middle) * 1e-9
            }
            let start = DispatchTime.now().uptimeNanoseconds
            try sumGradients()
            gradientSum += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        }
        let n = Double(iterations)
        var timing = LayerTiming(forward: forward.map { $0 / n }, backward: backwardTimes.map { $0 / n }, iterations: iterations,
                                 forwardTotal: forwardTotal / n, backwardTotal: backwardTotal / n)
        for (source, start) in zip(prefetchers, before) {
            let end = source.prefetchStatistics!
            let batches = Double(max(end.batches - start.batches, 1))
            timing.prefetching.append((source.name, (end.preparingSeconds - start.preparingSeconds) / batches,
                                       (end.waitingSeconds - start.waitingSeconds) / batches))
        }
        if backward && group.size > 1 {
            timing.gradientSum = gradientSum / n
            timing.gradientBytes = gradients.reduce(0) { $0 + $1.count * MemoryLayout<Float>.stride }
            timing.ranks = group.size
        }
        return timing
    }

    /// A table: layer, type, forward ms, backward ms, share of the total; then totals, the
    /// gradient sum over ranks, images/s (over all ranks) and the process's peak memory.
    public func table(net: Net, batchSize: Int) -> String {
        let total = forwardTotal + backwardTotal + gradientSum
        func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
        func right(_ text: String, _ width: Int) -> String { text.count >= width ? text : String(repeating: " ", count: width - text.count) + text }
        var lines = [pad("layer", 16) + " " + pad("type", 16) + right("fwd ms", 11) + right("bwd ms", 11) + right("share", 8)]
        for (index, layer) in net.layers.enumerated() {
            let share = total > 0 ? 100 * (forward[index] + backward[index]) / total : 0
            lines.append(pad(layer.name, 16) + " " + pad(layer.spec.type, 16)
                + String(format: "%11.3f%11.3f%7.1f%%", forward[index] * 1e3, backward[index] * 1e3, share))
        }
        lines.append(pad("total per batch of \(batchSize)", 33) + String(format: "%11.3f%11.3f", forwardTotal * 1e3, backwardTotal * 1e3))
        for data in prefetching {
            let hidden = data.preparing > 0 ? 100 * max(0, 1 - data.waiting / data.preparing) : 100
            lines.append(String(format: "%@: preparing a batch takes %.3f ms on the prefetch thread; forward waited %.3f ms for it (%.0f%% hidden)",
                                data.layer, data.preparing * 1e3, data.waiting * 1e3, hidden))
        }
        if ranks > 1 {
            lines.append(String(format: "summing %.2f MB of gradients over %d ranks: %.3f ms (%.1f%%; training overlaps part of it with backward)",
                                Double(gradientBytes) / 1e6, ranks, gradientSum * 1e3, 100 * gradientSum / max(total, 1e-12)))
        }
        // A net timed without backward (the test phase) says so.
        lines.append(String(format: "%@ %.3f ms; %.0f images/s (%d iterations%@)", backwardTotal > 0 ? (ranks > 1 ? "forward+backward+sum" : "forward+backward") : "forward",
                            total * 1e3, Double(batchSize * ranks) / max(total, 1e-12), iterations, ranks > 1 ? ", \(ranks) ranks × \(batchSize)" : ""))
        if let peak = ProcessMemory.peakResidentBytes {
            lines.append(String(format: "peak memory (RSS) %.1f MB", Double(peak) / 1e6))
        }
        return lines.joined(separator: "\n")
    }
}

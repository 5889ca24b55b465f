import Foundation

/// Per-layer forward and backward times of a net, as `caffe time` reports them.
public struct LayerTiming {
    public var forward: [Double]
    public var backward: [Double]
    public var iterations: Int
    /// Whole passes, timed separately from the per-layer sum.
    public var forwardTotal: Double
    public var backwardTotal: Double

    /// Runs `warmup` untimed iterations, then `iterations` timed ones; all times in seconds per iteration.
    public static func measure(_ net: Net, iterations: Int, warmup: Int, backward: Bool) throws -> LayerTiming {
        let count = net.layers.count
        for _ in 0..<warmup {
            try net.forward()
            if backward { net.zeroParameterDiffs(); net.backward() }
        }
        var forward = [Double](repeating: 0, count: count)
        var backwardTimes = [Double](repeating: 0, count: count)
        var forwardTotal = 0.0, backwardTotal = 0.0
        for _ in 0..<iterations {
            let passStart = DispatchTime.now().uptimeNanoseconds
            for index in 0..<count {
                let start = DispatchTime.now().uptimeNanoseconds
                net.forwardLayer(at: index)
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
        }
        let n = Double(iterations)
        return LayerTiming(forward: forward.map { $0 / n }, backward: backwardTimes.map { $0 / n }, iterations: iterations,
                           forwardTotal: forwardTotal / n, backwardTotal: backwardTotal / n)
    }

    /// A table: layer, type, forward ms, backward ms, share of the total; then totals,
    /// images/s and the process's peak memory.
    public func table(net: Net, batchSize: Int) -> String {
        let total = forwardTotal + backwardTotal
        func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
        func right(_ text: String, _ width: Int) -> String { text.count >= width ? text : String(repeating: " ", count: width - text.count) + text }
        var lines = [pad("layer", 16) + " " + pad("type", 16) + right("fwd ms", 11) + right("bwd ms", 11) + right("share", 8)]
        for (index, layer) in net.layers.enumerated() {
            let share = total > 0 ? 100 * (forward[index] + backward[index]) / total : 0
            lines.append(pad(layer.name, 16) + " " + pad(layer.spec.type, 16)
                + String(format: "%11.3f%11.3f%7.1f%%", forward[index] * 1e3, backward[index] * 1e3, share))
        }
        lines.append(pad("total per batch of \(batchSize)", 33) + String(format: "%11.3f%11.3f", forwardTotal * 1e3, backwardTotal * 1e3))
        // A net timed without backward (the test phase) says so.
        lines.append(String(format: "%@ %.3f ms; %.0f images/s (%d iterations)", backwardTotal > 0 ? "forward+backward" : "forward",
                            total * 1e3, Double(batchSize) / max(total, 1e-12), iterations))
        if let peak = ProcessMemory.peakResidentBytes {
            lines.append(String(format: "peak memory (RSS) %.1f MB", Double(peak) / 1e6))
        }
        return lines.joined(separator: "\n")
    }
}

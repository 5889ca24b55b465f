import Foundation
import SwiftCaffeCore

/// A net described layer by layer, like Keras's `model.summary()` with Caffe's "memory
/// required for data": for each layer in execution order its type, bottoms → tops, top
/// shapes, parameter count, forward FLOPs and the memory of the tops it creates.
public struct NetSummary {
    public struct Row {
        public var name: String
        public var type: String
        public var bottoms: [String]
        public var tops: [String]
        public var topShapes: [[Int]]
        public var parameters: Int
        public var forwardFLOPs: Int
        /// Bytes of values (Float32) of the tops this layer creates (in-place tops count once).
        public var activationBytes: Int
    }

    public var rows: [Row]
    public var totalParameters: Int
    /// Parameters the solver updates (lr_mult above 0); the rest (BatchNorm's statistics,
    /// layers with lr_mult 0) are frozen, as Keras splits them.
    public var trainableParameters: Int
    public var totalFLOPs: Int
    public var totalActivationBytes: Int
    public var batchSize: Int?
    public var memory: MemoryPlan

    public init(_ net: NetPlan) {
        memory = net.memory
        var counted: Set<ObjectIdentifier> = []
        var seenParameters: Set<ObjectIdentifier> = []
        rows = net.layers.indices.map { index in
            let layer = net.layers[index]
            var bytes = 0
            for top in net.tops[index] where counted.insert(ObjectIdentifier(top)).inserted { bytes += top.count * 4 }
            for bottom in net.bottoms[index] { counted.insert(ObjectIdentifier(bottom)) }
            // A shared parameter counts once, for the first layer that uses it.
            let parameters = layer.params.filter { seenParameters.insert(ObjectIdentifier($0)).inserted }.reduce(0) { $0 + $1.count }
            return Row(name: layer.name, type: layer.spec.type, bottoms: net.bottoms[index].map(\.name),
                       tops: net.tops[index].map(\.name), topShapes: net.tops[index].map(\.shape),
                       parameters: parameters, forwardFLOPs: layer.forwardFLOPs, activationBytes: bytes)
        }
        totalParameters = rows.reduce(0) { $0 + $1.parameters }
        trainableParameters = net.parameters.filter { $0.lrMult > 0 }.reduce(0) { $0 + $1.blob.count }
        totalFLOPs = rows.reduce(0) { $0 + $1.forwardFLOPs }
        totalActivationBytes = rows.reduce(0) { $0 + $1.activationBytes }
        batchSize = net.dataSources.first?.batchSize ?? net.tops.first?.first?.shape.first
    }

    /// The table as text.
    public var table: String {
        let header = ["layer", "type", "bottoms -> tops", "top shapes", "params", "fwd FLOPs", "memory"]
        var cells = rows.map { row in
            [row.name, row.type, Self.listed(row.bottoms) + " -> " + Self.listed(row.tops),
             Self.listed(row.topShapes.map { $0.map(String.init).joined(separator: "x") }),
             grouped(row.parameters), humanCount(row.forwardFLOPs), humanBytes(row.activationBytes)]
        }
        cells.append(["total", "", "", "", grouped(totalParameters), humanCount(totalFLOPs), humanBytes(totalActivationBytes)])
        // A column is as wide as its widest cell up to a bound; a longer cell (a layer name of
        // a thousand characters) overflows its row instead of widening every row.
        let widths = header.indices.map { column in min(([header] + cells).map { $0[column].count }.max() ?? 0, 80) }
        func line(_ values: [String]) -> String {
            values.enumerated().map { column, value in
                let fill = String(repeating: " ", count: max(widths[column] - value.count, 0))
                return column >= 4 ? fill + value : value + fill  // numbers right-aligned
            }.joined(separator: "  ")
        }
        var lines = [line(header), String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))]
        lines += cells.dropLast().map(line)
        lines.append(lines[1])
        lines.append(line(cells.last!))
        lines.append("parameters: \(grouped(trainableParameters)) trainable, \(grouped(totalParameters - trainableParameters)) frozen")
        if let batchSize, batchSize > 0 {
            lines.append("per image: \(humanCount(totalFLOPs / batchSize)) FLOPs forward; batch \(batchSize)")
        }
        lines.append("memory: \(humanBytes(memory.totalBytes)) (parameters \(humanBytes(memory.parameterBytes)), activations \(humanBytes(memory.activationBytes)), gradients \(humanBytes(memory.gradientBytes))), layers' scratch buffers aside")
        return lines.joined(separator: "\n")
    }

    /// Names joined with commas, the middle of a long list left out: a Concat of thousands
    /// of bottoms takes one readable line.
    public static func listed(_ names: [String]) -> String {
        guard names.count > 6 else { return names.joined(separator: ", ") }
        return (names.prefix(3) + ["… \(names.count - 4) more …", names.last!]).joined(separator: ", ")
    }

    /// What a net built for inference (`NetPurpose.inference`) takes: its blobs' memory plan
    /// and what it folded.
    public static func inferenceLine(_ net: NetPlan) -> String {
        let plan = net.memory
        return "at inference (test, classify): activations \(humanBytes(plan.activationBytes)) in \(plan.activationBuffers) shared buffers "
            + "instead of \(humanBytes(plan.separateActivationBytes)) in \(net.blobs.count); \(net.folded.count) layers folded into others"
    }
}

/// 431080 -> "431,080".
func grouped(_ value: Int) -> String {
    let digits = Array(String(value))
    var text = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { text += "," }
        text.append(digit)
    }
    return text
}

func humanCount(_ value: Int) -> String {
    let v = Double(value)
    if v >= 1e9 { return String(format: "%.2f G", v / 1e9) }
    if v >= 1e6 { return String(format: "%.2f M", v / 1e6) }
    if v >= 1e3 { return String(format: "%.1f k", v / 1e3) }
    return "\(value)"
}

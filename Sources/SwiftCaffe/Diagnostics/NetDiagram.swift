import SwiftCaffeLayers

/// A net as a Graphviz DOT graph: layers as boxes (name and type), blobs as edges labelled
/// with their name and shape, the net's outputs as ellipses. Implicit Split layers are left
/// out: their readers are drawn straight from the producer.
public enum NetDiagram {
    public static func dot(_ net: NetPlan) -> String {
        var lines = ["digraph \"\(escape(net.name))\" {", "  rankdir=TB;", "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\"];",
                     "  edge [fontname=\"Helvetica\", fontsize=10];"]
        // The layer that last wrote each blob (in place writes count), seen through Splits.
        var writer: [ObjectIdentifier: Int] = [:]
        var splitSource: [ObjectIdentifier: ObjectIdentifier] = [:]
        var read: Set<ObjectIdentifier> = []
        for (index, layer) in net.layers.enumerated() {
            let bottoms = net.bottoms[index], tops = net.tops[index]
            if layer is SplitLayer {
                for top in tops { splitSource[ObjectIdentifier(top)] = splitSource[ObjectIdentifier(bottoms[0])] ?? ObjectIdentifier(bottoms[0]) }
                continue
            }
            let details = Self.details(layer.spec).map { "\\n" + escape($0) } ?? ""
            lines.append("  L\(index) [label=\"\(escape(layer.name))\\n\(escape(layer.spec.type))\(details)\"\(Swift.type(of: layer).isLoss ? ", fillcolor=\"#fde9e4\"" : layer is any DataSource ? ", fillcolor=\"#e7f5e4\"" : "")];")
            for bottom in bottoms {
                let source = splitSource[ObjectIdentifier(bottom)] ?? ObjectIdentifier(bottom)
                read.insert(source)
                guard let from = writer[source] else { continue }
                let blob = net.tops[from].first { ObjectIdentifier($0) == source } ?? bottom
                lines.append("  L\(from) -> L\(index) [label=\"\(escape(blob.name)) \(blob.shapeDescription)\"];")
            }
            for top in tops {
                let identifier = ObjectIdentifier(top)
                if writer[identifier] != nil { read.remove(identifier) }  // in place: now a new value
                writer[identifier] = index
            }
        }
        // Outputs: blobs whose final value nobody reads.
        for (index, tops) in net.tops.enumerated() where !(net.layers[index] is SplitLayer) {
            for (slot, blob) in tops.enumerated() where writer[ObjectIdentifier(blob)] == index && !read.contains(ObjectIdentifier(blob)) {
                lines.append("  O\(index)_\(slot) [shape=ellipse, style=solid, label=\"\(escape(blob.name))\"];")
                lines.append("  L\(index) -> O\(index)_\(slot) [label=\"\(blob.shapeDescription)\"];")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// What Caffe's draw_net.py shows in a box besides name and type: the window (kernel,
    /// stride, pad), the pooling method and the number of outputs, as written in the file.
    static func details(_ spec: LayerSpec) -> String? {
        func value(_ key: String) -> String? {
            spec.node(key).flatMap { $0.scalar ?? $0.sequence.map { $0.compactMap(\.scalar).joined(separator: "×") } }
        }
        var parts: [String] = []
        if let kernel = value("kernel_size") ?? value("kernel_h").flatMap({ h in value("kernel_w").map { "\(h)×\($0)" } }) {
            parts.append("kernel \(kernel)")
        }
        if let stride = value("stride") ?? value("stride_h").flatMap({ h in value("stride_w").map { "\(h)×\($0)" } }) { parts.append("stride \(stride)") }
        if let pad = value("pad") ?? value("pad_h").flatMap({ h in value("pad_w").map { "\(h)×\($0)" } }) { parts.append("pad \(pad)") }
        if spec.type == "Pooling" { parts.append(value("pool") ?? "MAX") }
        if let outputs = value("num_output") { parts.append("\(outputs) outputs") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}

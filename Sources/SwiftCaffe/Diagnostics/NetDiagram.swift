import SwiftCaffeLayers

/// A net's graph, as Graphviz DOT or as SVG laid out here (`NetGraph`): layers as boxes (name, type, window and outputs), blobs as
/// edges labelled with their name and shape, the net's outputs as ellipses. Implicit Split
/// layers are left out: their readers are drawn straight from the producer.
///
/// From a plan the edges carry shapes. A net whose data files are not at hand cannot be
/// planned (a data layer's shape comes from its file), so `dot(schedule:)` draws the same
/// graph from the layers' order and blob names alone.
public enum NetDiagram {
    /// One box: its layer's spec, the names of the blobs it reads and writes, and their shapes
    /// (empty when not known).
    struct Box {
        var spec: LayerSpec
        var bottoms: [String]
        var tops: [String]
        var shapes: [String: String]
        var isSplit: Bool
    }

    public static func dot(_ net: NetPlan) -> String { graph(net).dot }

    /// The graph of a net that is scheduled but not planned: no shapes.
    public static func dot(schedule: [ScheduledLayer], name: String) -> String { graph(schedule: schedule, name: name).dot }

    /// The same graph as SVG, laid out here (`NetGraph.svg`): what the training monitor
    /// shows, and what `draw` writes when Graphviz is not installed.
    public static func svg(_ net: NetPlan) -> String { graph(net).svg }

    public static func svg(schedule: [ScheduledLayer], name: String) -> String { graph(schedule: schedule, name: name).svg }

    static func graph(_ net: NetPlan) -> NetGraph {
        let boxes = net.layers.indices.map { index in
            Box(spec: net.layers[index].spec, bottoms: net.bottoms[index].map(\.name), tops: net.tops[index].map(\.name),
                shapes: Dictionary((net.bottoms[index] + net.tops[index]).map { ($0.name, $0.shapeDescription) }, uniquingKeysWith: { a, _ in a }),
                isSplit: net.layers[index] is SplitLayer)
        }
        return graph(boxes, name: net.name)
    }

    static func graph(schedule: [ScheduledLayer], name: String) -> NetGraph {
        graph(schedule.map { Box(spec: $0.spec, bottoms: $0.bottoms, tops: $0.tops, shapes: [:], isSplit: $0.spec.type == "Split") }, name: name)
    }

    static func graph(_ boxes: [Box], name: String) -> NetGraph {
        var graph = NetGraph(name: name)
        func label(_ blob: String, _ box: Box) -> String { box.shapes[blob].map { "\(blob) \($0)" } ?? blob }
        // The layer that last wrote each blob (in place writes count), seen through Splits.
        var writer: [String: Int] = [:]
        var node: [Int: Int] = [:]  // box index -> node index
        var splitSource: [String: String] = [:]
        var read: Set<String> = []
        for (index, box) in boxes.enumerated() {
            if box.isSplit, let bottom = box.bottoms.first {
                for top in box.tops { splitSource[top] = splitSource[bottom] ?? bottom }
                continue
            }
            let type = LayerRegistry.type(named: box.spec.type)
            let kind: NetGraph.Kind = type?.isLoss == true ? .loss : (type.map { $0 is any DataSource.Type } ?? false) ? .data : .layer
            node[index] = graph.nodes.count
            graph.nodes.append(.init(lines: [box.spec.name, box.spec.type] + (Self.details(box.spec).map { [$0] } ?? []), kind: kind))
            for bottom in box.bottoms {
                let source = splitSource[bottom] ?? bottom
                read.insert(source)
                guard let from = writer[source] else { continue }
                graph.edges.append(.init(from: node[from]!, to: node[index]!, label: label(source, boxes[from])))
            }
            for top in box.tops {
                if writer[top] != nil { read.remove(top) }  // in place: now a new value
                writer[top] = index
            }
        }
        // Outputs: blobs whose final value nobody reads.
        for (index, box) in boxes.enumerated() where !box.isSplit {
            for blob in box.tops where writer[blob] == index && !read.contains(blob) {
                graph.edges.append(.init(from: node[index]!, to: graph.nodes.count, label: box.shapes[blob] ?? ""))
                graph.nodes.append(.init(lines: [blob], kind: .output))
            }
        }
        return graph
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
}

/// A net's drawing before it is written out: boxes for layers (name, type, details), ellipses
/// for the outputs, and edges labelled with blob names and shapes (`NetDiagram` builds it).
/// It is written as Graphviz DOT for `draw`, or as SVG laid out here, so that a page shows
/// the same graph with nothing installed.
struct NetGraph {
    enum Kind { case layer, data, loss, output }

    struct Node {
        var lines: [String]
        var kind: Kind
    }

    /// `from` comes before `to` in `nodes`: layers are in execution order, outputs last.
    struct Edge {
        var from: Int
        var to: Int
        var label: String
    }

    var name: String
    var nodes: [Node] = []
    var edges: [Edge] = []

    private static let fills: [Kind: String] = [.layer: "#eef3fb", .data: "#e7f5e4", .loss: "#fde9e4"]

    var dot: String {
        var lines = ["digraph \"\(Self.escapeDOT(name))\" {", "  rankdir=TB;", "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\"];",
                     "  edge [fontname=\"Helvetica\", fontsize=10];"]
        for (index, node) in nodes.enumerated() {
            let label = node.lines.map(Self.escapeDOT).joined(separator: "\\n")
            switch node.kind {
            case .output: lines.append("  N\(index) [shape=ellipse, style=solid, label=\"\(label)\"];")
            case .layer: lines.append("  N\(index) [label=\"\(label)\"];")
            default: lines.append("  N\(index) [label=\"\(label)\", fillcolor=\"\(Self.fills[node.kind]!)\"];")
            }
        }
        for edge in edges { lines.append("  N\(edge.from) -> N\(edge.to) [label=\"\(Self.escapeDOT(edge.label))\"];") }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Top to bottom, as `dot` draws it: each node one rank below the lowest node it reads
    /// from; in a rank, nodes sit near the mean position of what they read (one sweep) and are
    /// pushed apart where they would overlap. Text width is estimated at 7 px a character.
    var svg: String {
        let lineHeight = 15.0, gap = 44.0, spacing = 24.0
        let widths = nodes.map { Double(($0.lines.map(\.count).max() ?? 1) * 7 + 24) }
        let heights = nodes.map { Double($0.lines.count) * lineHeight + 12 }
        var rank = [Int](repeating: 0, count: nodes.count)
        var parents = [[Int]](repeating: [], count: nodes.count)
        for edge in edges.sorted(by: { $0.to < $1.to }) {
            rank[edge.to] = max(rank[edge.to], rank[edge.from] + 1)
            parents[edge.to].append(edge.from)
        }
        let ranks = (rank.max() ?? -1) + 1
        var x = [Double](repeating: 0, count: nodes.count), y = [Double](repeating: 0, count: nodes.count)
        var top = 16.0
        for r in 0..<ranks {
            let members = nodes.indices.filter { rank[$0] == r }
            // Where each wants its centre: under its parents, else after the one before it.
            var wanted: [(node: Int, x: Double)] = []
            for node in members {
                let ps = parents[node]
                wanted.append((node, ps.isEmpty ? (wanted.last.map { $0.x + widths[$0.node] } ?? 0) : ps.map { x[$0] }.reduce(0, +) / Double(ps.count)))
            }
            wanted.sort { $0.x == $1.x ? $0.node < $1.node : $0.x < $1.x }
            var right = -Double.infinity
            for (node, centre) in wanted {
                x[node] = max(centre, right + spacing + widths[node] / 2)
                right = x[node] + widths[node] / 2
            }
            let height = members.map { heights[$0] }.max() ?? 0
            for node in members { y[node] = top + height / 2 }
            top += height + gap
        }
        let left = nodes.indices.map { x[$0] - widths[$0] / 2 }.min() ?? 0
        let shift = 16 - left
        for index in x.indices { x[index] += shift }
        // An edge that skips ranks runs down a lane of its own right of every box it passes,
        // rather than through them.
        var nodesRight = (nodes.indices.map { x[$0] + widths[$0] / 2 }.max() ?? 0)
        var lanes: [Int: Double] = [:]
        for (index, edge) in edges.enumerated() where rank[edge.to] - rank[edge.from] > 1 {
            nodesRight += 16
            lanes[index] = nodesRight
        }
        let labelRoom = lanes.isEmpty ? 0.0 : 90
        let width = nodesRight + 16 + labelRoom, height = top - gap + 16
        func number(_ value: Double) -> String { String(Int(value.rounded())) }
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"net-graph\" width=\"\(number(width))\" height=\"\(number(height))\" viewBox=\"0 0 \(number(width)) \(number(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">",
                   "<title>\(Self.escapeXML(name))</title>",
                   "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>"]
        for (index, edge) in edges.enumerated() {
            let (x1, y1) = (x[edge.from], y[edge.from] + heights[edge.from] / 2)
            let (x2, y2) = (x[edge.to], y[edge.to] - heights[edge.to] / 2)
            let path: String, labelX: Double, labelY: Double
            if let lane = lanes[index] {
                let (down, up) = (y1 + gap / 2, y2 - gap / 2)
                path = "M\(number(x1)),\(number(y1)) Q\(number(x1)),\(number(down)) \(number(lane)),\(number(down)) L\(number(lane)),\(number(up)) Q\(number(x2)),\(number(up)) \(number(x2)),\(number(y2))"
                (labelX, labelY) = (lane + 4, down + 14)
            } else {
                let bend = (y2 - y1) / 2
                path = "M\(number(x1)),\(number(y1)) C\(number(x1)),\(number(y1 + bend)) \(number(x2)),\(number(y2 - bend)) \(number(x2)),\(number(y2))"
                (labelX, labelY) = ((x1 + x2) / 2 + 6, y2 - gap / 2 + 4)
            }
            out.append("<path class=\"edge\" d=\"\(path)\" fill=\"none\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>")
            if !edge.label.isEmpty {
                out.append("<text class=\"blob\" x=\"\(number(labelX))\" y=\"\(number(labelY))\" font-size=\"10\" fill=\"#333\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">\(Self.escapeXML(edge.label))</text>")
            }
        }
        for (index, node) in nodes.enumerated() {
            let w = widths[index], h = heights[index], cx = x[index], cy = y[index]
            if node.kind == .output {
                out.append("<ellipse class=\"output\" cx=\"\(number(cx))\" cy=\"\(number(cy))\" rx=\"\(number(w / 2))\" ry=\"\(number(h / 2))\" fill=\"#fff\" stroke=\"#333\"/>")
            } else {
                out.append("<rect class=\"layer\" x=\"\(number(cx - w / 2))\" y=\"\(number(cy - h / 2))\" width=\"\(number(w))\" height=\"\(number(h))\" rx=\"6\" fill=\"\(Self.fills[node.kind]!)\" stroke=\"#333\"/>")
            }
            for (line, text) in node.lines.enumerated() {
                let ty = cy - h / 2 + 6 + lineHeight * (Double(line) + 0.8)
                out.append("<text x=\"\(number(cx))\" y=\"\(number(ty))\" text-anchor=\"middle\"\(line == 0 && node.kind != .output ? " font-weight=\"bold\"" : "")>\(Self.escapeXML(text))</text>")
            }
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    static func escapeDOT(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    static func escapeXML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

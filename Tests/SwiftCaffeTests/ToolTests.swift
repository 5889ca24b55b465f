import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// summary, draw and gradcheck on real net files.
@Suite struct ToolTests {
    @Test(.enabled(if: fashionMNISTInstalled)) func lenetSummaryMatchesAHandCount() throws {
        let net = try Net(spec: try NetSpec.load(path: repositoryRoot + "/nets/lenet.yaml"), phase: .train)
        let summary = NetSummary(net.plan)
        // conv1 20·(1·5·5)+20, conv2 50·(20·5·5)+50, ip1 500·800+500, ip2 10·500+10.
        #expect(summary.rows.map(\.parameters) == [0, 520, 0, 25_050, 0, 400_500, 0, 5_010, 0])
        #expect(summary.totalParameters == 431_080)
        // conv1: 64 images · 20 maps · 24·24 positions · (2·25 + 1).
        #expect(summary.rows[1].forwardFLOPs == 64 * 20 * 576 * 51)
        #expect(summary.rows[6].activationBytes == 0)  // ReLU works in place
        #expect(summary.table.contains("431,080"))
        #expect(summary.table.contains("parameters: 431,080 trainable, 0 frozen"))
    }

    static let branchy = """
    layers:
      - {name: input, type: Input, top: [data, label], shape: [[2, 3, 6, 6], [2]]}
      - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 4, kernel_size: 3, pad: 1, weight_filler: gaussian}
      - {name: relu, type: ReLU, bottom: conv, top: conv}
      - {name: pool, type: Pooling, bottom: conv, top: pool, kernel_size: 2, stride: 2}
      - {name: ip, type: InnerProduct, bottom: pool, top: ip, num_output: 5, weight_filler: xavier}
      - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
      - {name: accuracy, type: Accuracy, bottom: [ip, label], top: accuracy}
    """

    /// LRN was counted as free; AlexNet's two take more than a tenth of its time.
    @Test func lrnCountsItsFLOPs() throws {
        let layer = try makeLayer("{name: norm, type: LRN, local_size: 5}")
        try layer.setUp(bottom: [randomBlob([2, 6, 4, 4])], top: [Blob()])
        #expect(layer.forwardFLOPs == 2 * 6 * 16 * (1 + 2 + 2 + 2 + 1))  // square, slide, scale, power, product
    }

    @Test func diagramHasEveryLayerAndBlob() throws {
        let dot = NetDiagram.dot(try NetPlan(spec: try NetSpec.parse(Self.branchy), options: NetOptions(phase: .train)))
        for name in ["conv\\nConvolution", "relu\\nReLU", "loss\\nSoftmaxWithLoss", "accuracy\\nAccuracy"] { #expect(dot.contains(name)) }
        // As Caffe's draw_net.py: the window and the outputs in the box.
        #expect(dot.contains("conv\\nConvolution\\nkernel 3, pad 1, 4 outputs\"") && dot.contains("pool\\nPooling\\nkernel 2, stride 2, MAX\""))
        #expect(!dot.contains("Split"))  // the implicit split of ip is drawn as two edges from ip
        #expect(dot.components(separatedBy: "label=\"ip 2x5\"").count - 1 == 2)
        #expect(dot.contains("label=\"conv 2x4x6x6\""))
        #expect(dot.hasPrefix("digraph") && dot.hasSuffix("}\n"))
    }

    /// The SVG the board shows (and `draw` writes without Graphviz) is the DOT graph laid out:
    /// the same boxes, edges and labels, every box inside the picture, none overlapping.
    @Test func svgDiagramDrawsTheSameGraph() throws {
        let plan = try NetPlan(spec: try NetSpec.parse(Self.branchy), options: NetOptions(phase: .train))
        let dot = NetDiagram.dot(plan), svg = NetDiagram.svg(plan)
        func matches(_ pattern: String, _ text: String) -> [[String]] {
            let regex = try! NSRegularExpression(pattern: pattern)
            return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { match in
                (1..<match.numberOfRanges).map { String(text[Range(match.range(at: $0), in: text)!]) }
            }
        }
        let dotEdges = matches(#"-> N\d+ \[label="([^"]*)"\]"#, dot).map { $0[0] }.filter { !$0.isEmpty }.sorted()
        let svgEdges = matches(#"<text class="blob"[^>]*>([^<]*)</text>"#, svg).map { $0[0] }.sorted()
        #expect(!dotEdges.isEmpty && dotEdges == svgEdges)
        #expect(matches(#"<path class="edge""#, svg).count == matches(#" -> "#, dot).count)
        let boxes = matches(#"<rect class="layer" x="(-?\d+)" y="(-?\d+)" width="(\d+)" height="(\d+)""#, svg).map { $0.map { Double($0)! } }
        #expect(boxes.count == matches(#"\n  N\d+ \[label="#, dot).count)  // a node's line, not an edge's
        let size = matches(#"<svg [^>]*width="(\d+)" height="(\d+)""#, svg)[0].map { Double($0)! }
        for (i, a) in boxes.enumerated() {
            #expect(a[0] >= 0 && a[1] >= 0 && a[0] + a[2] <= size[0] && a[1] + a[3] <= size[1])
            for b in boxes[(i + 1)...] { #expect(a[0] + a[2] <= b[0] || b[0] + b[2] <= a[0] || a[1] + a[3] <= b[1] || b[1] + b[3] <= a[1]) }
        }
        for name in ["conv", "relu", "pool", "ip", "loss", "accuracy"] { #expect(svg.contains(">\(name)</text>")) }
    }

    @Test func gradcheckPassesOnRealLayersAndCatchesABrokenOne() throws {
        let spec = try NetSpec.parse(Self.branchy)
        let reports = try NetGradientCheck.run(spec)
        #expect(reports.map(\.layer) == ["conv", "relu", "pool", "ip", "loss"])
        #expect(reports.allSatisfy { $0.passed })

        LayerRegistry.register(HalfGradientReLU.self, as: "HalfGradientReLU")
        let broken = try NetSpec.parse(Self.branchy.replacingOccurrences(of: "type: ReLU", with: "type: HalfGradientReLU"))
        let report = try NetGradientCheck.run(broken, layer: "relu")
        #expect(report.count == 1 && !report[0].passed)
        #expect { _ = try NetGradientCheck.run(spec, layer: "rleu") } throws: { "\($0)".contains("did you mean 'relu'") }
    }
}

/// A ReLU whose backward forgets half the gradient, for the checker to catch.
final class HalfGradientReLU: Layer {
    let spec: LayerSpec
    var params: [Blob] = []
    static var supportsInPlace: Bool { true }
    init(spec: LayerSpec, context: LayerContext) { self.spec = spec }
    func setUp(bottom: [Blob], top: [Blob]) throws { try top[0].reshape(bottom[0].shape) }
    func forward(bottom: [Blob], top: [Blob]) {
        for i in 0..<bottom[0].count { top[0].data[i] = max(bottom[0].data[i], 0) }
    }
    func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        for i in 0..<top[0].count { bottom[0].diff[i] = top[0].data[i] > 0 ? 0.5 * top[0].diff[i] : 0 }
    }
}

import Foundation
import Testing
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// The layers an inference net runs on N×H×W×C blobs between its convolutions (pooling, LRN,
/// concatenation) against their planar forward on the same values, and the layout pass that
/// keeps GoogLeNet-style inception blocks channels-last.
@Suite struct ChannelsLastLayerTests {
    /// The planar forward of `layer` on `bottoms`, and its channels-last forward on the same
    /// values reordered, with the top reordered back.
    static func bothLayouts(_ keys: String, _ bottoms: [Blob], prepare: (any Layer) -> Void = { _ in }) throws -> (planar: [Float], channelsLast: [Float]) {
        func run(_ channelsLast: Bool) throws -> [Float] {
            let layer = try makeLayer(keys, phase: .test) as! any ChannelsLastCapable
            prepare(layer)
            let top = Blob(name: "top")
            let inputs = bottoms.map { blob in
                let copy = Blob(name: blob.name, shape: blob.shape)
                if channelsLast { ChannelsLastCopy.reorder(blob.data, into: copy.data, shape: blob.shape, toChannelsLast: true) } else { copy.setData(blob.dataArray) }
                return copy
            }
            try layer.setUp(bottom: inputs, top: [top])
            #expect(layer.canUseChannelsLast)
            layer.useChannelsLast(bottom: channelsLast, top: channelsLast)
            try layer.forward(bottom: inputs, top: [top])
            guard channelsLast else { return top.dataArray }
            var planar = [Float](repeating: .nan, count: top.count)
            ChannelsLastCopy.reorder(top.data, into: &planar, shape: top.shape, toChannelsLast: false)
            return planar
        }
        return (try run(false), try run(true))
    }

    /// Max pooling keeps the same maxima and average pooling divides the same sums: the same
    /// bits, for GoogLeNet's and ResNet's windows, padding, Caffe's rounding up (windows that
    /// reach past the padding), the 2×2 tiles and global pooling.
    @Test(arguments: ["kernel_size: 3, stride: 2", "kernel_size: 3, stride: 1, pad: 1", "kernel_size: 2, stride: 2",
                      "kernel_size: 3, stride: 2, pad: 1", "kernel_size: 2, stride: 3, pad: 1", "global_pooling: true"])
    func poolingIsTheSameBits(_ window: String) throws {
        let bottom = randomBlob([2, 24, 9, 11], seed: 5)
        for method in ["MAX", "AVE"] {
            let (planar, channelsLast) = try Self.bothLayouts("{name: p, type: Pooling, pool: \(method), \(window)}", [bottom]) { layer in
                (layer as! PoolingLayer).keepOnlyValues()  // what an inference net does first
            }
            #expect(planar.count == channelsLast.count)
            #expect(planar.map(\.bitPattern) == channelsLast.map(\.bitPattern), "\(method) \(window)")
        }
    }

    /// LRN sums each window directly where the planar path slides one sum, so the two agree to
    /// rounding; with β other than 0.75 it takes the general power.
    @Test(arguments: ["local_size: 5, alpha: 0.0001, beta: 0.75", "local_size: 3, alpha: 2, beta: 0.6, k: 2",
                      "local_size: 2147483647, alpha: 1e9, beta: 0.75"])  // a window past every channel, at once
    func lrnAgreesToRounding(_ keys: String) throws {
        let bottom = randomBlob([2, 21, 5, 7], seed: 8, range: -4...4)
        let (planar, channelsLast) = try Self.bothLayouts("{name: n, type: LRN, \(keys)}", [bottom])
        let worst = zip(planar, channelsLast).map { abs($0 - $1) / max(abs($0), 1e-3) }.max() ?? .infinity
        #expect(planar.count == channelsLast.count && worst < 1e-6, "relative difference \(worst)")
    }

    @Test func concatenationIsTheSameValues() throws {
        let bottoms = [randomBlob([2, 5, 3, 4], seed: 1, name: "a"), randomBlob([2, 16, 3, 4], seed: 2, name: "b"), randomBlob([2, 1, 3, 4], seed: 3, name: "c")]
        let (planar, channelsLast) = try Self.bothLayouts("{name: c, type: Concat, bottom: [a, b, c]}", bottoms)
        #expect(planar == channelsLast)
    }

    /// Two inception blocks between a stem and a classifier, as GoogLeNet has them: pooling,
    /// LRN and the concatenations stay channels-last in an inference net, so every convolution
    /// reads and writes the engine's layout; the output is the planar net's.
    static let inception = """
        layers:
          - {name: in, type: Input, top: data, shape: [2, 3, 23, 23]}
          - {name: stem, type: Convolution, bottom: data, top: stem, num_output: 32, kernel_size: 3, stride: 2, weight_filler: msra, bias_filler: {type: gaussian, std: 0.1}}
          - {name: stem_relu, type: ReLU, bottom: stem, top: stem}
          - {name: pool, type: Pooling, bottom: stem, top: pool, pool: MAX, kernel_size: 3, stride: 2}
          - {name: norm, type: LRN, bottom: pool, top: norm, local_size: 5, alpha: 0.0001, beta: 0.75}
          - {name: a1, type: Convolution, bottom: norm, top: a1, num_output: 16, kernel_size: 1, weight_filler: msra}
          - {name: a3, type: Convolution, bottom: norm, top: a3, num_output: 32, kernel_size: 3, pad: 1, weight_filler: msra}
          - {name: ap, type: Pooling, bottom: norm, top: ap, pool: MAX, kernel_size: 3, stride: 1, pad: 1}
          - {name: ap1, type: Convolution, bottom: ap, top: ap1, num_output: 16, kernel_size: 1, weight_filler: msra}
          - {name: a, type: Concat, bottom: [a1, a3, ap1], top: a}
          - {name: b1, type: Convolution, bottom: a, top: b1, num_output: 32, kernel_size: 1, weight_filler: msra}
          - {name: b3, type: Convolution, bottom: a, top: b3, num_output: 32, kernel_size: 3, pad: 1, weight_filler: msra}
          - {name: b, type: Concat, bottom: [b1, b3], top: b}
          - {name: bpool, type: Pooling, bottom: b, top: bpool, pool: AVE, kernel_size: 3, stride: 2, pad: 1}
          - {name: gap, type: Pooling, bottom: bpool, top: gap, pool: AVE, global_pooling: true}
          - {name: fc, type: InnerProduct, bottom: gap, top: fc, num_output: 5, weight_filler: xavier}
        """

    @Test func inceptionBlocksStayChannelsLast() throws {
        func fc(engine: Bool, purpose: NetPurpose) throws -> (values: [Float], net: Net) {
            try ConvolutionEngine.$isEnabled.withValue(engine) {
                let net = try Net(spec: try NetSpec.parse(Self.inception), options: NetOptions(phase: .test, purpose: purpose))
                try net.forward(replacing: ["data": ConvolutionEngineTests.input(2 * 3 * 23 * 23)])
                return (net.blobs["fc"]!.dataArray, net)
            }
        }
        let reference = try fc(engine: false, purpose: .asWritten), inference = try fc(engine: true, purpose: .inference)
        ConvolutionEngineTests.expectClose(inference.values, reference.values, "fc")
        let plan = inference.net.plan
        for name in ["pool", "ap", "bpool", "gap"] { #expect((plan.layer(named: name) as! PoolingLayer).channelsLast, "\(name)") }
        #expect((plan.layer(named: "norm") as! LRNLayer).channelsLast)
        for name in ["a", "b"] { #expect((plan.layer(named: name) as! ConcatLayer).channelsLast, "\(name)") }
        // The 1×1 convolutions too: with both sides channels-last nothing is reordered.
        for name in ["stem", "a1", "a3", "ap1", "b1", "b3"] { #expect((plan.layer(named: name) as! ConvolutionLayer).ranInEngine, "\(name)") }
    }

    /// A net's last blob written again in place (a ReLU after the last convolution) is still
    /// its output: it stays N×C×H×W and whole, where it had counted as read by the ReLU and
    /// came back channels-last.
    @Test func anOutputWrittenInPlaceStaysPlanar() throws {
        let spec = try NetSpec.parse("""
            layers:
              - {name: in, type: Input, top: data, shape: [2, 16, 9, 9]}
              - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 16, kernel_size: 3, pad: 1, weight_filler: msra}
              - {name: relu, type: ReLU, bottom: conv, top: conv}
            """)
        func values(_ purpose: NetPurpose) throws -> [Float] {
            let net = try Net(spec: spec, options: NetOptions(phase: .test, seed: 4, purpose: purpose))
            #expect(net.plan.outputNames == ["conv"])
            try net.forward(replacing: ["data": ConvolutionEngineTests.input(2 * 16 * 9 * 9)])
            return net.blobs["conv"]!.dataArray
        }
        ConvolutionEngineTests.expectClose(try values(.inference), try values(.asWritten), "conv")
    }
}

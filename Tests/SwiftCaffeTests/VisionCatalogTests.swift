import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Deconvolution, Im2col, LocallyConnected and LRN.
@Suite struct VisionCatalogTests {
    @Test(arguments: [
        "{name: d, type: Deconvolution, num_output: 3, kernel_size: 3, stride: 2, pad: 1, weight_filler: gaussian, bias_filler: gaussian}",
        "{name: d, type: Deconvolution, num_output: 2, kernel_size: 2, stride: 2, weight_filler: gaussian}",
        "{name: d, type: Deconvolution, num_output: 6, kernel_size: 3, stride: 2, group: 3, weight_filler: gaussian, bias_filler: gaussian}",
        "{name: i, type: Im2col, kernel_size: 2, stride: 1, pad: 1}",
        "{name: l, type: LocallyConnected, num_output: 3, kernel_size: 3, weight_filler: gaussian, bias_filler: gaussian}",
        "{name: l, type: LocallyConnected, num_output: 2, kernel_size: 2, stride: 2, pad: 1, bias_term: false, weight_filler: gaussian}",
        "{name: n, type: LRN, local_size: 3, alpha: 0.5, beta: 0.75}",
        "{name: n, type: LRN, local_size: 3, alpha: 2, beta: 0.6, norm_region: WITHIN_CHANNEL}",
    ])
    func gradients(_ yaml: String) throws {
        try expectGradientsMatch(try makeLayer(yaml), bottom: [randomBlob([2, 3, 4, 4])])
    }

    /// With `group` g, input channel group i spreads only into output group i: here each of two
    /// channels through its own 1×1 kernel (weights 2 and 3) into its own output.
    @Test func deconvolutionGroupsKeepChannelsApart() throws {
        let layer = try makeLayer("{name: d, type: Deconvolution, num_output: 2, kernel_size: 1, group: 2, bias_term: false}")
        let x = Blob(shape: [1, 2, 1, 2]), y = Blob()
        x.setData([1, 2, 10, 20])
        try layer.setUp(bottom: [x], top: [y])
        #expect(layer.params[0].shape == [2, 1, 1, 1])
        layer.params[0].setData([2, 3])
        try layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [2, 4, 30, 60])
    }

    /// Within a channel Caffe's LRN always shifts by 1: `k` changes nothing there, as in Caffe,
    /// while across channels it does.
    @Test func lrnWithinAChannelShiftsByOne() throws {
        func output(_ keys: String) throws -> [Float] {
            let layer = try makeLayer("{name: n, type: LRN, local_size: 3, alpha: 2, \(keys)}")
            let x = randomBlob([1, 2, 3, 3]), y = Blob()
            try layer.setUp(bottom: [x], top: [y])
            y.allocate()
            try layer.forward(bottom: [x], top: [y])
            return y.dataArray
        }
        #expect(try output("norm_region: WITHIN_CHANNEL, k: 3") == output("norm_region: WITHIN_CHANNEL"))
        #expect(try output("k: 3") != output("k: 1"))
    }

    /// `transpose: true` stores W as K×N: with the transposed weights it computes what the
    /// ordinary layer computes.
    @Test func innerProductTransposeStoresWeightsTheOtherWay() throws {
        let x = randomBlob([2, 3])
        func output(_ transpose: Bool, weights: [Float]) throws -> (shape: [Int], values: [Float]) {
            let layer = try makeLayer("{name: ip, type: InnerProduct, num_output: 2, bias_term: false, transpose: \(transpose)}")
            let y = Blob()
            try layer.setUp(bottom: [x], top: [y])
            layer.params[0].allocate()
            y.allocate()
            layer.params[0].setData(weights)
            try layer.forward(bottom: [x], top: [y])
            return (layer.params[0].shape, y.dataArray)
        }
        let plain = try output(false, weights: [1, 2, 3, 4, 5, 6])       // 2×3
        let transposed = try output(true, weights: [1, 4, 2, 5, 3, 6])  // 3×2, the same matrix
        #expect(plain.shape == [2, 3] && transposed.shape == [3, 2])
        #expect(plain.values == transposed.values)
    }

    /// Max pooling's fast paths (interior windows, the unrolled 3×3, clipped border windows,
    /// the 2×2 stride-2 tiles of an even plane, and inference's values-only path) against the
    /// definition, on values with many ties: the first maximum wins, row by row, and backward
    /// sends each output's gradient to it.
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (3, 2, 0), (2, 2, 0), (4, 1, 2), (1, 1, 0), (5, 3, 2)], [false, true])
    func maxPoolingMatchesTheDefinition(_ window: (kernel: Int, stride: Int, pad: Int), valuesOnly: Bool) throws {
        for (height, width) in [(7, 6), (8, 14)] {  // 8×14 in 2×2 tiles: 4 windows at a time, then 3 alone
            let layer = try makeLayer("{name: p, type: Pooling, pool: MAX, kernel_size: \(window.kernel), stride: \(window.stride), pad: \(window.pad)}")
            let x = Blob(shape: [2, 3, height, width]), y = Blob()
            x.allocate()
            var rng = RandomGenerator(seed: 9)
            for i in 0..<x.count { x.data[i] = Float(rng.next() % 5) }
            try layer.setUp(bottom: [x], top: [y])
            if valuesOnly { (layer as! PoolingLayer).keepOnlyValues() }  // as in a net built for inference
            y.allocate()
            try layer.forward(bottom: [x], top: [y])
            let (outH, outW) = (y.shape[2], y.shape[3])
            var expectedDiff = [Float](repeating: 0, count: x.count)
            for plane in 0..<6 {
                for py in 0..<outH {
                    for px in 0..<outW {
                        let y0 = py * window.stride - window.pad, x0 = px * window.stride - window.pad
                        var best = -Float.infinity, winner = -1
                        for row in max(y0, 0)..<min(y0 + window.kernel, height) {
                            for column in max(x0, 0)..<min(x0 + window.kernel, width) {
                                let index = (plane * height + row) * width + column
                                if x.data[index] > best { (best, winner) = (x.data[index], index) }
                            }
                        }
                        let out = (plane * outH + py) * outW + px
                        #expect(y.data[out] == best)
                        expectedDiff[winner] += Float(out + 1)
                    }
                }
            }
            guard !valuesOnly else { continue }
            x.needsGradient = true
            for i in 0..<y.count { y.diff[i] = Float(i + 1) }
            layer.backward(topDiff: [y], bottomDiff: [x])
            #expect(x.diffArray == expectedDiff, "\(height)×\(width)")
        }
    }

    @Test func deconvolutionSpreadsTheKernel() throws {
        // One input value 2 through a 2×2 kernel (1 2 / 3 4) with stride 2: the kernel times 2.
        let layer = try makeLayer("{name: d, type: Deconvolution, num_output: 1, kernel_size: 2, stride: 2, bias_term: false}")
        let x = Blob(shape: [1, 1, 1, 2]), y = Blob()
        x.setData([2, 1])
        try layer.setUp(bottom: [x], top: [y])
        layer.params[0].setData([1, 2, 3, 4])
        try layer.forward(bottom: [x], top: [y])
        #expect(y.shape == [1, 1, 2, 4])
        #expect(y.dataArray == [2, 4, 1, 2, 6, 8, 3, 4])
    }

    @Test func im2colValues() throws {
        let layer = try makeLayer("{name: i, type: Im2col, kernel_size: 2}")
        let x = Blob(shape: [1, 1, 2, 3]), y = Blob()
        x.setData([1, 2, 3, 4, 5, 6])
        try layer.setUp(bottom: [x], top: [y])
        try layer.forward(bottom: [x], top: [y])
        // Rows: kernel taps (0,0) (0,1) (1,0) (1,1); columns: the two window positions.
        #expect(y.shape == [1, 4, 1, 2] && y.dataArray == [1, 2, 2, 3, 4, 5, 5, 6])
    }

    /// im2col and col2im against their definitions, element by element, on geometries that
    /// take each path: dense, padded (rows and columns partly outside), strided, dilated,
    /// rectangular, and a tap that sees no input at all (pad 2, kernel 5 on a 1-wide image).
    /// col2im is checked as im2col's adjoint: ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩.
    @Test(arguments: [
        WindowGeometry(channels: 2, height: 12, width: 12, kernelH: 5, kernelW: 5),
        WindowGeometry(channels: 3, height: 5, width: 7, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
        WindowGeometry(channels: 2, height: 9, width: 8, kernelH: 3, kernelW: 2, strideH: 2, strideW: 3, padH: 1, padW: 1),
        WindowGeometry(channels: 1, height: 10, width: 11, kernelH: 3, kernelW: 3, padH: 2, padW: 2, dilationH: 2, dilationW: 3),
        WindowGeometry(channels: 2, height: 4, width: 1, kernelH: 5, kernelW: 5, padH: 2, padW: 2),
        WindowGeometry(channels: 1, height: 28, width: 28, kernelH: 5, kernelW: 5, strideH: 1, strideW: 1),
    ])
    func im2colAndCol2imMatchTheirDefinition(_ g: WindowGeometry) {
        let imageCount = g.channels * g.height * g.width, area = g.outputH * g.outputW
        let rows = g.channels * g.kernelH * g.kernelW, rowStride = area + 3  // room between rows, as in a batch
        var generator = RandomGenerator(seed: 11)
        let image = (0..<imageCount).map { _ in generator.uniform(-1, 1) }
        var expected = [Float](repeating: 0, count: rows * rowStride)
        for c in 0..<g.channels {
            for ki in 0..<g.kernelH {
                for kj in 0..<g.kernelW {
                    let row = (c * g.kernelH + ki) * g.kernelW + kj
                    for oy in 0..<g.outputH {
                        for ox in 0..<g.outputW {
                            let y = oy * g.strideH - g.padH + ki * g.dilationH, x = ox * g.strideW - g.padW + kj * g.dilationW
                            let inside = y >= 0 && y < g.height && x >= 0 && x < g.width
                            expected[row * rowStride + oy * g.outputW + ox] = inside ? image[(c * g.height + y) * g.width + x] : 0
                        }
                    }
                }
            }
        }
        var columns = [Float](repeating: .nan, count: rows * rowStride)
        for r in 0..<rows { for i in area..<rowStride { columns[r * rowStride + i] = 0 } }  // the gaps are not im2col's
        image.withUnsafeBufferPointer { x in
            columns.withUnsafeMutableBufferPointer { im2col(x.baseAddress!, g, $0.baseAddress!, rowStride: rowStride) }
        }
        #expect(columns == expected)

        let weights = (0..<rows * rowStride).map { i in i % rowStride < area ? generator.uniform(-1, 1) : 0 }
        var back = [Float](repeating: .nan, count: imageCount)
        weights.withUnsafeBufferPointer { y in
            back.withUnsafeMutableBufferPointer { col2im(y.baseAddress!, g, $0.baseAddress!, rowStride: rowStride) }
        }
        let forward = zip(expected, weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let adjoint = zip(image, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(forward - adjoint) < 1e-4 * max(1, abs(forward)))
    }

    /// With the same filter at every position, a locally connected layer is a convolution.
    @Test func locallyConnectedWithTiedWeightsIsAConvolution() throws {
        let local = try makeLayer("{name: l, type: LocallyConnected, num_output: 2, kernel_size: 3, pad: 1, bias_term: false}")
        let conv = try makeLayer("{name: c, type: Convolution, num_output: 2, kernel_size: 3, pad: 1, bias_term: false, weight_filler: gaussian}")
        let x = randomBlob([2, 3, 4, 4]), a = Blob(), b = Blob()
        try local.setUp(bottom: [x], top: [a])
        try conv.setUp(bottom: [x], top: [b])
        let filter = conv.params[0].dataArray  // 2 × 27
        local.params[0].setData((0..<16).flatMap { _ in filter })
        try local.forward(bottom: [x], top: [a])
        try conv.forward(bottom: [x], top: [b])
        #expect(local.params[0].shape == [16 * 2, 27])
        #expect(zip(a.dataArray, b.dataArray).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func lrnValue() throws {
        // One channel, local_size 1: s = 1 + 2² = 5, y = 2·5^−0.75.
        let layer = try makeLayer("{name: n, type: LRN, local_size: 1}")
        let x = Blob(shape: [1, 1, 1, 1]), y = Blob()
        x.setData([2])
        try layer.setUp(bottom: [x], top: [y])
        try layer.forward(bottom: [x], top: [y])
        #expect(abs(Double(y.data[0]) - 2 * pow(5, -0.75)) < 1e-6)
        // Across 3 channels (1, 2, 3), the middle one: s = 1 + (1/3)(1 + 4 + 9).
        let across = try makeLayer("{name: n, type: LRN, local_size: 3}")
        let x3 = Blob(shape: [1, 3, 1, 1]), y3 = Blob()
        x3.setData([1, 2, 3])
        try across.setUp(bottom: [x3], top: [y3])
        try across.forward(bottom: [x3], top: [y3])
        #expect(abs(Double(y3.data[1]) - 2 * pow(1 + 14.0 / 3, -0.75)) < 1e-6)
    }

    /// The sliding window sum across channels against the definition, in Double, with windows
    /// wider than the channels and with β ≠ 0.75 (powf) as well as 0.75 (square roots).
    @Test(arguments: [(5, 0.75), (9, 0.75), (3, 0.6), (1, 1.5)] as [(Int, Double)])
    func lrnMatchesItsDefinition(size: Int, beta: Double) throws {
        let layer = try makeLayer("{name: n, type: LRN, local_size: \(size), alpha: 0.7, beta: \(beta), k: 1.5}")
        let x = randomBlob([2, 7, 5, 6], range: -2...2), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        try layer.forward(bottom: [x], top: [y])
        let (channels, plane) = (7, 30)
        var worst = 0.0
        for image in 0..<2 {
            for c in 0..<channels {
                for p in 0..<plane {
                    var sum = 0.0
                    for other in max(0, c - size / 2)...min(channels - 1, c + size / 2) {
                        let v = Double(x.data[(image * channels + other) * plane + p])
                        sum += v * v
                    }
                    let i = (image * channels + c) * plane + p
                    let expected = Double(x.data[i]) * Foundation.pow(1.5 + 0.7 / Double(size) * sum, -beta)
                    worst = max(worst, abs(Double(y.data[i]) - expected))
                }
            }
        }
        #expect(worst < 2e-6, "largest difference \(worst)")
    }
}

import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// The layer catalog: finite-difference checks and forward values worked out by hand.
@Suite struct NeuronCatalogTests {
    /// Inputs kept away from every function's kink (0, Clip's bounds, Threshold's threshold).
    func input(_ shape: [Int] = [2, 3, 4], low: Float = 0.1, high: Float = 2) -> Blob {
        let blob = randomBlob(shape, range: low...high)
        var rng = RandomGenerator(seed: 12)
        for i in 0..<blob.count where rng.next() & 1 == 0 { blob.data[i] = -blob.data[i] }
        return blob
    }

    @Test(arguments: [
        "{name: n, type: ELU, alpha: 0.7}",
        "{name: n, type: AbsVal}",
        "{name: n, type: Power, power: 2, scale: 0.5, shift: 3}",
        "{name: n, type: Exp, base: 2, scale: 0.5, shift: 0.1}",
        "{name: n, type: Exp}",
        "{name: n, type: BNLL}",
        "{name: n, type: Clip, min: -0.5, max: 0.95}",
        "{name: n, type: Swish, beta: 1.5}",
        "{name: n, type: Threshold, threshold: 0.05}",
        "{name: n, type: PReLU, filler: {type: uniform, min: 0.1, max: 0.5}}",
        "{name: n, type: PReLU, channel_shared: true}",
    ])
    func gradients(_ yaml: String) throws {
        let checker = GradientChecker(kink: nil)
        try expectGradientsMatch(try makeLayer(yaml), bottom: [input()], checker: checker)
    }

    @Test func logGradient() throws {
        // Log needs shift + scale·x > 0.
        try expectGradientsMatch(try makeLayer("{name: n, type: Log, base: 10, scale: 2, shift: 5}"), bottom: [input()])
    }

    @Test(arguments: ["ELU", "Exp", "ReLU", "Sigmoid", "TanH", "Threshold"])
    func inPlace(_ type: String) throws {
        try expectGradientsMatch(try makeLayer("{name: n, type: \(type)}"), bottom: [input()], inPlace: true)
    }

    /// (layer, x, expected y), each y computed by hand.
    @Test(arguments: [
        ("{name: n, type: ELU, alpha: 2}", -1.0, 2 * (exp(-1.0) - 1)),
        ("{name: n, type: ELU}", 1.5, 1.5),
        ("{name: n, type: AbsVal}", -2.5, 2.5),
        ("{name: n, type: Power, power: 3, scale: 2, shift: 1}", 1.0, 27),
        ("{name: n, type: Exp, base: 2, scale: 3}", 1.0, 8),
        ("{name: n, type: Log, base: 10, shift: 99}", 1.0, 2),
        ("{name: n, type: BNLL}", 0.0, log(2.0)),
        ("{name: n, type: BNLL}", 100.0, 100),
        ("{name: n, type: Threshold, threshold: 0.5}", 0.6, 1),
        ("{name: n, type: Threshold, threshold: 0.5}", 0.4, 0),
        ("{name: n, type: Clip, min: -1, max: 1}", 3.0, 1),
        ("{name: n, type: Swish}", 2.0, 2 / (1 + exp(-2.0))),
        ("{name: n, type: ReLU, negative_slope: 0.1}", -3.0, -0.3),
        ("{name: n, type: PReLU}", -2.0, -0.5),
    ] as [(String, Double, Double)])
    func forwardValues(_ yaml: String, x: Double, expected: Double) throws {
        let layer = try makeLayer(yaml)
        let bottom = Blob(shape: [1, 1]), top = Blob()
        bottom.setData([Float(x)])
        try layer.setUp(bottom: [bottom], top: [top])
        try layer.forward(bottom: [bottom], top: [top])
        #expect(abs(Double(top.data[0]) - expected) < 1e-5 * max(1, abs(expected)), "\(yaml) at \(x): \(top.data[0])")
    }

    @Test func dropoutScalesTrainingAndPassesTestThrough() throws {
        let x = Blob(shape: [100, 100])
        x.setData([Float](repeating: 1, count: 10_000))
        let train = try makeLayer("{name: d, type: Dropout, dropout_ratio: 0.3}", phase: .train)
        let y = Blob()
        try train.setUp(bottom: [x], top: [y])
        try train.forward(bottom: [x], top: [y])
        let kept = y.dataArray.filter { $0 != 0 }
        #expect(Set(kept) == [Float(1 / 0.7)])
        #expect(abs(Float(kept.count) / 10_000 - 0.7) < 0.02)
        // Backward passes the gradient through the same mask.
        y.setDiff([Float](repeating: 2, count: 10_000))
        x.needsGradient = true
        train.backward(topDiff: [y], bottomDiff: [x])
        #expect(zip(x.diffArray, y.dataArray).allSatisfy { $1 == 0 ? $0 == 0 : abs($0 - 2 / 0.7) < 1e-5 })
        let test = try makeLayer("{name: d, type: Dropout, dropout_ratio: 0.3}", phase: .test)
        try test.setUp(bottom: [x], top: [y])
        try test.forward(bottom: [x], top: [y])
        #expect(y.dataArray.allSatisfy { $0 == 1 })
    }
}

@Suite struct NormalizationCatalogTests {
    @Test func batchNormGradientInTraining() throws {
        let layer = try makeLayer("{name: bn, type: BatchNorm}", phase: .train)
        try expectGradientsMatch(layer, bottom: [randomBlob([4, 3, 2, 2], range: -2...2)])
    }

    /// With global statistics (a test net) BatchNorm is a per-channel affine map, which it
    /// computes without storing x̂: values by hand, the bottom's gradient by finite differences.
    @Test func batchNormWithGlobalStatistics() throws {
        let layer = try makeLayer("{name: bn, type: BatchNorm, eps: 0}", phase: .test)
        let x = randomBlob([4, 3, 2, 2], range: -2...2), y = Blob(name: "y")
        try layer.setUp(bottom: [x], top: [y])
        layer.params[0].setData([1, -2, 4])      // running sums; the normaliser 2 halves them
        layer.params[1].setData([8, 2, 0.5])
        layer.params[2].setData([2])
        try layer.forward(bottom: [x], top: [y])
        let means: [Float] = [0.5, -1, 2], deviations: [Float] = [2, 1, 0.5]
        for i in 0..<x.count {
            let c = (i / 4) % 3
            #expect(abs(y.data[i] - (x.data[i] - means[c]) / deviations[c]) < 1e-5)
        }
        let results = try GradientChecker().check(layer, bottom: [x], top: [y], bottoms: [0]).filter { $0.blob.hasPrefix("bottom") }
        #expect(results.count == 1 && results[0].passed, "\(results)")
    }

    @Test func batchNormNormalisesAndKeepsRunningStatistics() throws {
        let x = Blob(shape: [4, 2, 1, 1])
        x.setData([1, 10, 2, 20, 3, 30, 6, 40])  // channel 0: 1 2 3 6 (mean 3, var 3.5); channel 1: 10..40
        let train = try makeLayer("{name: bn, type: BatchNorm, moving_average_fraction: 0.5, eps: 0}", phase: .train)
        let y = Blob()
        try train.setUp(bottom: [x], top: [y])
        try train.forward(bottom: [x], top: [y])
        let channel0 = stride(from: 0, to: 8, by: 2).map { y.data[$0] }
        #expect(zip(channel0, [-2, -1, 0, 3].map { Float($0) / Float(3.5).squareRoot() }).allSatisfy { abs($0 - $1) < 1e-5 })
        // Running sums after one batch: mean 3, unbiased variance 3.5·4/3, normaliser 1.
        #expect(abs(train.params[0].data[0] - 3) < 1e-5 && abs(train.params[1].data[0] - 14 / 3) < 1e-4 && train.params[2].data[0] == 1)
        // The test phase uses them: x = 3 + √(14/3) maps to 1.
        let test = try makeLayer("{name: bn, type: BatchNorm, eps: 0}", phase: .test)
        let probe = Blob(shape: [1, 2, 1, 1]), out = Blob()
        probe.setData([3 + Float(14.0 / 3).squareRoot(), 25])
        try test.setUp(bottom: [probe], top: [out])
        test.params = train.params
        try test.forward(bottom: [probe], top: [out])
        #expect(abs(out.data[0] - 1) < 1e-4)
        #expect(train.isLearnable(parameter: 0) == false)
    }

    @Test(arguments: [
        "{name: s, type: Scale, filler: {type: uniform, min: 0.5, max: 1.5}}",
        "{name: s, type: Scale, bias_term: true, bias_filler: {type: gaussian, std: 1}}",
        "{name: s, type: Scale, axis: 1, num_axes: 2, filler: gaussian}",
        "{name: b, type: Bias, filler: gaussian}",
    ])
    func scaleAndBiasGradients(_ yaml: String) throws {
        try expectGradientsMatch(try makeLayer(yaml), bottom: [randomBlob([2, 3, 4])])
    }

    @Test func scaleFromASecondBottom() throws {
        let layer = try makeLayer("{name: s, type: Scale}")
        try expectGradientsMatch(layer, bottom: [randomBlob([2, 3, 4]), randomBlob([3], seed: 9)])
        let x = Blob(shape: [1, 2, 2]), s = Blob(shape: [2]), y = Blob()
        x.setData([1, 2, 3, 4])
        s.setData([10, -1])
        try layer.setUp(bottom: [x, s], top: [y])
        try layer.forward(bottom: [x, s], top: [y])
        #expect(y.dataArray == [10, 20, -3, -4])
    }

    @Test func scaleInPlace() throws {
        try expectGradientsMatch(try makeLayer("{name: s, type: Scale, bias_term: true, filler: gaussian}"), bottom: [randomBlob([2, 3, 4])], inPlace: true)
    }
}

@Suite struct ConvolutionCatalogTests {
    @Test(arguments: [
        "num_output: 4, kernel_size: 3, group: 2",
        "num_output: 6, kernel_size: 3, group: 2, pad: 1, stride: 2",
        "num_output: 2, kernel_size: 3, dilation: 2",
        "num_output: 4, kernel_size: 2, dilation: 2, pad: 1, group: 2",
    ])
    func groupsAndDilation(_ keys: String) throws {
        let layer = try makeLayer("{name: c, type: Convolution, \(keys), weight_filler: gaussian, bias_filler: gaussian}")
        try expectGradientsMatch(layer, bottom: [randomBlob([2, 4, 7, 7])])
    }

    /// A dilated 2×2 kernel of ones over a 3×3 image reads its four corners.
    @Test func dilationReadsSpacedTaps() throws {
        let layer = try makeLayer("{name: c, type: Convolution, num_output: 1, kernel_size: 2, dilation: 2, weight_filler: {type: constant, value: 1}}")
        let x = Blob(shape: [1, 1, 3, 3]), y = Blob()
        x.setData([1, 2, 3, 4, 5, 6, 7, 8, 9])
        try layer.setUp(bottom: [x], top: [y])
        try layer.forward(bottom: [x], top: [y])
        #expect(y.shape == [1, 1, 1, 1] && y.data[0] == 1 + 3 + 7 + 9)
    }

    /// With two groups, outputs of group 0 ignore the channels of group 1.
    @Test func groupsSeeOnlyTheirChannels() throws {
        let layer = try makeLayer("{name: c, type: Convolution, num_output: 2, kernel_size: 1, group: 2, bias_term: false, weight_filler: {type: constant, value: 1}}")
        let x = Blob(shape: [1, 2, 1, 2]), y = Blob()
        x.setData([1, 2, 10, 20])
        try layer.setUp(bottom: [x], top: [y])
        #expect(layer.params[0].shape == [2, 1, 1, 1])
        try layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [1, 2, 10, 20])
    }
}

import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Every layer's backward against finite differences, in several configurations.
@Suite struct LayerGradientTests {
    @Test(arguments: [
        "{name: ip, type: InnerProduct, num_output: 4, weight_filler: gaussian, bias_filler: {type: uniform, min: -1, max: 1}}",
        "{name: ip, type: InnerProduct, num_output: 3, bias_term: false, weight_filler: xavier}",
        "{name: ip, type: InnerProduct, num_output: 3, transpose: true, weight_filler: gaussian, bias_filler: gaussian}",
    ])
    func innerProduct(_ yaml: String) throws {
        try expectGradientsMatch(try makeLayer(yaml), bottom: [randomBlob([2, 3, 2, 2])])
    }

    /// Dropout in training: every evaluation of the finite difference must see the mask the
    /// analytic pass saw (the checker once drew a new one per bottom evaluation, and
    /// `gradcheck` failed every net with Dropout).
    @Test func dropoutInTraining() throws {
        try expectGradientsMatch(try makeLayer("{name: d, type: Dropout, dropout_ratio: 0.4}", phase: .train), bottom: [randomBlob([3, 7])])
    }

    @Test(arguments: [
        "kernel_size: 3",
        "kernel_size: 3, stride: 2",
        "kernel_size: 3, pad: 1",
        "kernel_size: 2, stride: 2, pad: 1",
        "kernel_h: 3, kernel_w: 2, stride_h: 1, stride_w: 2, pad_h: 0, pad_w: 1",
        "kernel_size: 1",
        "kernel_size: 3, bias_term: false",
    ])
    func convolution(_ keys: String) throws {
        let layer = try makeLayer("{name: conv, type: Convolution, num_output: 3, \(keys), weight_filler: gaussian, bias_filler: gaussian}")
        try expectGradientsMatch(layer, bottom: [randomBlob([2, 2, 5, 6])])
    }

    /// Rows of at least 8 outputs over few channels: the direct kernels (`ConvolutionLayer.runsDirect`),
    /// for the weights' gradient alone (a first layer) and with the input's (from im2col).
    @Test(arguments: ["kernel_size: 3", "kernel_size: 3, pad: 1", "kernel_h: 2, kernel_w: 3, pad_h: 0, pad_w: 2", "kernel_size: 3, bias_term: false"],
          [false, true])
    func directConvolution(_ keys: String, inputGradient: Bool) throws {
        let layer = try makeLayer("{name: conv, type: Convolution, num_output: 5, \(keys), weight_filler: gaussian, bias_filler: gaussian}")
        let bottom = randomBlob([2, 2, 4, 11])
        bottom.needsGradient = inputGradient
        try expectGradientsMatch(layer, bottom: [bottom])
        #expect((layer as! ConvolutionLayer).ranDirect)
    }

    @Test(arguments: [
        "pool: MAX, kernel_size: 2, stride: 2",
        "pool: MAX, kernel_size: 3, stride: 2",
        "pool: MAX, kernel_size: 3, stride: 2, pad: 1",
        "pool: MAX, kernel_size: 3, stride: 1, pad: 1",
        "pool: MAX, kernel_size: 4, stride: 1, pad: 2",
        "pool: AVE, kernel_size: 2, stride: 2",
        "pool: AVE, kernel_size: 3, stride: 2, pad: 1",
        "pool: MAX, global_pooling: true",
        "pool: AVE, global_pooling: true",
    ])
    func pooling(_ keys: String) throws {
        // Distinct values 0.05 apart: the max cannot change under the 0.01 step.
        try expectGradientsMatch(try makeLayer("{name: pool, type: Pooling, \(keys)}"), bottom: [distinctBlob([2, 2, 5, 5])])
    }

    @Test(arguments: [0, 0.1] as [Float], [false, true])
    func relu(slope: Float, inPlace: Bool) throws {
        let layer = try makeLayer("{name: relu, type: ReLU, negative_slope: \(slope)}")
        try expectGradientsMatch(layer, bottom: [randomBlob([2, 3, 4])], checker: GradientChecker(kink: 0, kinkRange: 0.02), inPlace: inPlace)
    }

    @Test(arguments: ["Sigmoid", "TanH"], [false, true])
    func smoothNeuron(_ type: String, inPlace: Bool) throws {
        try expectGradientsMatch(try makeLayer("{name: n, type: \(type)}"), bottom: [randomBlob([2, 3, 4], range: -3...3)], inPlace: inPlace)
    }

    @Test(arguments: [1, 2, -1])
    func softmax(axis: Int) throws {
        try expectGradientsMatch(try makeLayer("{name: s, type: Softmax, axis: \(axis)}"), bottom: [randomBlob([2, 3, 4], range: -2...2)])
    }

    @Test(arguments: ["", ", ignore_label: 1", ", normalization: BATCH_SIZE", ", normalization: NONE", ", label_smoothing: 0.2",
                      ", label_smoothing: 0.3, ignore_label: 1"])
    func softmaxWithLoss(_ keys: String) throws {
        let layer = try makeLayer("{name: loss, type: SoftmaxWithLoss\(keys)}")
        try expectGradientsMatch(layer, bottom: [randomBlob([4, 5], range: -2...2), labelBlob(count: 4, classes: 5)])
    }

    @Test func softmaxWithLossSpatial() throws {
        // Labels per position (N×H×W) for N×C×H×W scores, as in segmentation.
        let layer = try makeLayer("{name: loss, type: SoftmaxWithLoss}")
        try expectGradientsMatch(layer, bottom: [randomBlob([2, 3, 2, 2], range: -2...2), labelBlob(count: 8, classes: 3)])
    }

    @Test func euclideanLoss() throws {
        let layer = try makeLayer("{name: loss, type: EuclideanLoss}")
        try expectGradientsMatch(layer, bottom: [randomBlob([3, 4], seed: 1), randomBlob([3, 4], seed: 2)])
    }

    @Test func split() throws {
        try expectGradientsMatch(try makeLayer("{name: s, type: Split}"), bottom: [randomBlob([2, 3])], topCount: 3)
    }

    /// The checker itself must catch a wrong backward, or every test above proves nothing.
    @Test func checkerCatchesAWrongBackward() throws {
        let layer = BrokenScaleLayer(spec: try LayerSpec(try YAMLParser.parse("{name: broken, type: Broken}"), index: 0, baseDirectory: ""),
                                     context: LayerContext(phase: .train, seed: 1))
        let bottom = [randomBlob([5])]
        let top = [Blob()]
        try layer.setUp(bottom: bottom, top: top)
        let results = try GradientChecker().check(layer, bottom: bottom, top: top)
        #expect(results.count == 1)
        #expect(results.allSatisfy { !$0.passed })
    }
}

/// y = 2x with a backward that forgets the factor 2.
private final class BrokenScaleLayer: Layer {
    let spec: LayerSpec
    var params: [Blob] = []
    init(spec: LayerSpec, context: LayerContext) { self.spec = spec }
    func setUp(bottom: [Blob], top: [Blob]) throws { try top[0].reshape(bottom[0].shape) }
    func forward(bottom: [Blob], top: [Blob]) {
        for i in 0..<bottom[0].count { top[0].data[i] = 2 * bottom[0].data[i] }
    }
    func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        for i in 0..<bottom[0].count { bottom[0].diff[i] = top[0].diff[i] }
    }
}

/// Forward values of layers without gradients, against hand-computed results.
@Suite struct LayerForwardTests {
    @Test(arguments: [(1, Float(0.25)), (2, Float(0.75))])
    func accuracy(topK: Int, expected: Float) throws {
        let layer = try makeLayer("{name: a, type: Accuracy, top_k: \(topK)}")
        let scores = Blob(shape: [4, 3])
        // Label 0 ranks 1st; label 2 ranks 2nd; label 1 ranks 3rd; label 1 in a three-way tie
        // ranks 2nd (class 0 goes first). So top-1 is right once, top-2 three times.
        scores.setData([0.9, 0.1, 0.0,   0.2, 0.5, 0.3,   0.1, 0.0, 0.3,   0.4, 0.4, 0.4])
        let labels = Blob(shape: [4])
        labels.setData([0, 2, 1, 1])
        let top = [Blob()]
        try layer.setUp(bottom: [scores, labels], top: top)
        try layer.forward(bottom: [scores, labels], top: top)
        #expect(top[0].data[0] == expected)
    }
}

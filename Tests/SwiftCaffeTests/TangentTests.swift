import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Forward mode against reverse mode: for the layers that can push tangents, ⟨J·v, w⟩ from
/// `forwardTangent` equals ⟨v, Jᵀ·w⟩ from `backward` to Float's precision (sums of a few
/// hundred products, accumulated in Double, differ by rounding only: 1e-5 relative).
@Suite struct TangentTests {
    func adjoint(_ yaml: String, bottoms: [Blob], tops: Int = 1, inPlace: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let layer = try makeLayer(yaml)
        let tangentLayer = try #require(layer as? any TangentLayer, "\(yaml) has no forward mode", sourceLocation: sourceLocation)
        let top = inPlace ? [bottoms[0]] : (0..<tops).map { _ in Blob() }
        try layer.setUp(bottom: bottoms, top: top)
        let result = try AdjointCheck().check(tangentLayer, bottom: bottoms, top: top)
        #expect(result.relativeError < 1e-5, "\(yaml): \(result)", sourceLocation: sourceLocation)
        #expect(abs(result.forwardMode) > 1e-3, "\(yaml): a zero test proves nothing: \(result)", sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        "{name: f, type: ReLU}", "{name: f, type: ReLU, negative_slope: 0.1}", "{name: f, type: Sigmoid}", "{name: f, type: TanH}",
        "{name: f, type: ELU}", "{name: f, type: AbsVal}", "{name: f, type: Power, power: 2, scale: 0.5, shift: 2}", "{name: f, type: Exp}",
        "{name: f, type: Log, shift: 3}", "{name: f, type: BNLL}", "{name: f, type: Clip, min: -0.5, max: 0.5}", "{name: f, type: Swish}",
    ])
    func neuronFunctions(_ yaml: String) throws {
        try adjoint(yaml, bottoms: [randomBlob([2, 3, 4, 5], range: -2...2)])
    }

    /// In place, the tangent overwrites its bottom's tangent as the value overwrites the bottom.
    @Test func inPlaceReLU() throws {
        try adjoint("{name: f, type: ReLU}", bottoms: [randomBlob([4, 6], range: -2...2)], inPlace: true)
    }

    /// ReLU exactly at its kink, where finite differences are meaningless: both modes take
    /// the same branch, so the adjoint test still holds exactly.
    @Test func reluAtItsKink() throws {
        let bottom = randomBlob([4, 6], range: -2...2)
        for i in stride(from: 0, to: bottom.count, by: 3) { bottom.data[i] = 0 }
        try adjoint("{name: f, type: ReLU}", bottoms: [bottom])
    }

    @Test func innerProductWithParameterDirections() throws {
        try adjoint("{name: ip, type: InnerProduct, num_output: 5, weight_filler: gaussian, bias_filler: gaussian}", bottoms: [randomBlob([3, 2, 4])])
        try adjoint("{name: ip, type: InnerProduct, num_output: 5, bias_term: false, weight_filler: gaussian}", bottoms: [randomBlob([3, 8])])
        try adjoint("{name: ip, type: InnerProduct, num_output: 5, transpose: true, weight_filler: gaussian, bias_filler: gaussian}", bottoms: [randomBlob([3, 8])])
    }

    @Test func euclideanLossAndSplit() throws {
        try adjoint("{name: l, type: EuclideanLoss}", bottoms: [randomBlob([3, 4]), randomBlob([3, 4], seed: 9)])
        let split = try makeLayer("{name: s, type: Split}")
        let bottom = randomBlob([2, 5]), tops = [Blob(), Blob(), Blob()]
        try split.setUp(bottom: [bottom], top: tops)
        let result = try AdjointCheck().check(try #require(split as? any TangentLayer), bottom: [bottom], top: tops)
        #expect(result.relativeError < 1e-5, "\(result)")
    }

    /// The whole net: a parameter direction pushed forward through a branch (an implicit
    /// Split), an in-place Sigmoid and two weighted losses gives the same derivative of the
    /// loss as the gradient that backward computes, dotted with that direction.
    @Test func wholeNetForwardModeMatchesBackward() throws {
        let yaml = """
        layers:
          - {name: in, type: Input, top: [x, t1, t2], shape: [[3, 6], [3, 4], [3, 2]]}
          - {name: ip1, type: InnerProduct, bottom: x, top: h, num_output: 4, weight_filler: gaussian, bias_filler: gaussian}
          - {name: act, type: Sigmoid, bottom: h, top: h}
          - {name: l1, type: EuclideanLoss, bottom: [h, t1], top: loss1}
          - {name: ip2, type: InnerProduct, bottom: h, top: o, num_output: 2, weight_filler: gaussian}
          - {name: squash, type: TanH, bottom: o, top: o2}
          - {name: l2, type: EuclideanLoss, bottom: [o2, t2], top: loss2, loss_weight: 0.5}
        """
        let net = try Net(spec: try NetSpec.parse(yaml), phase: .train)
        var rng = RandomGenerator(seed: 5)
        for name in ["x", "t1", "t2"] { for i in 0..<net.blobs[name]!.count { net.blobs[name]!.data[i] = rng.uniform(-1, 1) } }
        let result = try AdjointCheck().check(net: net)
        #expect(result.relativeError < 1e-5 && abs(result.forwardMode) > 1e-3, "\(result)")
        let tangents = try net.forwardTangents(parameters: net.parameters.map { [Float](repeating: 1, count: $0.blob.count) })
        // The implicit Split passed the same tangent to both readers of h.
        #expect(tangents["h_split_0"]!.dataArray == tangents["h_split_1"]!.dataArray)
    }

    /// The shipped nets, whole, along their parameters and their images at once: batch-norm,
    /// dropout, inception branches, a residual sum. LeNet and fashion_bn read Fashion-MNIST.
    @Test(.enabled(if: fashionMNISTInstalled), arguments: ["lenet", "fashion_bn", "inception_mini", "residual", "mlp"])
    func shippedNets(_ name: String) throws {
        var yaml = try String(contentsOfFile: repositoryRoot + "/nets/\(name).yaml", encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: #"batch_size: \d+"#, with: "batch_size: 4", options: .regularExpression)
        let net = try Net(spec: try NetSpec.parse(yaml, file: name + ".yaml"), options: NetOptions(phase: .train, inputGradients: ["data"]))
        let result = try AdjointCheck().check(net: net, inputs: ["data"])
        #expect(result.passed && abs(result.forwardMode) > 1e-6, "\(name): \(result)")
    }

    /// A directional derivative from forward mode is the derivative: it matches a central
    /// difference of the loss along the same direction (here in Double-sized steps of the
    /// Float net, so to 1e-3).
    @Test func directionalDerivativeMatchesAFiniteDifference() throws {
        let yaml = """
        layers:
          - {name: in, type: Input, top: [x, label], shape: [[4, 2, 5, 5], [4]]}
          - {name: conv, type: Convolution, bottom: x, top: c, num_output: 3, kernel_size: 3, weight_filler: xavier}
          - {name: act, type: TanH, bottom: c, top: c}
          - {name: pool, type: Pooling, bottom: c, top: p, pool: AVE, kernel_size: 3}
          - {name: ip, type: InnerProduct, bottom: p, top: scores, num_output: 3, weight_filler: xavier}
          - {name: loss, type: SoftmaxWithLoss, bottom: [scores, label], top: loss}
        """
        let net = try Net(spec: try NetSpec.parse(yaml), phase: .test)
        var rng = RandomGenerator(seed: 21)
        let x = net.blobs["x"]!
        for i in 0..<x.count { x.data[i] = rng.uniform(-1, 1) }
        net.blobs["label"]!.setData([0, 2, 1, 2])
        let direction = (0..<x.count).map { _ in rng.uniform(-1, 1) }
        let derivative = net.lossTangent(try net.forwardTangents(inputs: ["x": direction]))
        let original = x.dataArray, h: Float = 1e-2
        x.setData(zip(original, direction).map { $0 + h * $1 })
        let plus = Double(try net.forwardLoss())
        x.setData(zip(original, direction).map { $0 - h * $1 })
        let minus = Double(try net.forwardLoss())
        let difference = (plus - minus) / Double(2 * h)
        #expect(abs(derivative - difference) <= 1e-3 * max(1, abs(difference)), "forward mode \(derivative), finite difference \(difference)")
    }

    /// `swiftcaffe jvp` through the binary: the loss's derivative along a direction, each class
    /// score's, and both modes' costs; a direction of the wrong shape is a clean error.
    @Test(.enabled(if: fashionMNISTInstalled)) func jvpCommand() throws {
        let runner = Fuzzer(binary: FuzzTests.binary, repository: repositoryRoot, root: NSTemporaryDirectory(), seed: 0)
        let (outcome, output) = runner.run([FuzzTests.binary, "jvp", repositoryRoot + "/nets/logreg.yaml", "--direction", "random", "--images", "1", "--batch", "7"])
        #expect(outcome == .ran, "\(outcome): \(output.suffix(500))")
        #expect(output.contains("loss = ") && output.contains(", derivative "))
        #expect(output.contains("image 0, scores 'scores' (derivative): T-shirt/top "))
        #expect(output.contains("on 'data' (7x1x28x28)"))
        #expect(output.contains("forward mode (one pass with tangents): ") && output.contains("reverse mode (forward + backward"))
        let folder = try temporaryFolder()
        let wrong = Blob(shape: [3])
        try withBuffers([("d", [3], wrong.dataArray)]) { try Data(Safetensors.encode($0)).write(to: URL(fileURLWithPath: folder + "/d.safetensors")) }
        let (bad, message) = runner.run([FuzzTests.binary, "jvp", repositoryRoot + "/nets/logreg.yaml", "--direction", folder + "/d.safetensors"])
        #expect(bad == .locatedError && message.contains("holds a tensor of shape [3], but 'data' is [100, 1, 28, 28]"), "\(message)")
    }

    /// Shared parameters are one blob with one direction: both layers that use it move with it.
    @Test func sharedParametersMoveTogether() throws {
        let yaml = """
        layers:
          - {name: in, type: Input, top: [a, b, t], shape: [[3, 4], [3, 4], [3, 2]]}
          - {name: left, type: InnerProduct, bottom: a, top: la, num_output: 2, weight_filler: gaussian, param: [{name: w}, {name: bias}]}
          - {name: right, type: InnerProduct, bottom: b, top: lb, num_output: 2, weight_filler: gaussian, param: [{name: w}, {name: bias}]}
          - {name: sum, type: Eltwise, bottom: [la, lb], top: s, operation: PROD}
          - {name: loss, type: EuclideanLoss, bottom: [s, t], top: loss}
        """
        let net = try Net(spec: try NetSpec.parse(yaml), options: NetOptions(phase: .train, inputGradients: ["a"]))
        var rng = RandomGenerator(seed: 3)
        for name in ["a", "b", "t"] { for i in 0..<net.blobs[name]!.count { net.blobs[name]!.data[i] = rng.uniform(-1, 1) } }
        #expect(net.parameters.count == 2)  // one weight and one bias, shared
        let result = try AdjointCheck().check(net: net, inputs: ["a"])
        #expect(result.relativeError < 1e-5 && abs(result.forwardMode) > 1e-3, "\(result)")
    }

    /// On a trained LeNet, forward mode's derivative of the test loss along `brighten` agrees
    /// with a central difference of two forward passes with the images shifted by ±ε.
    @Test(.enabled(if: fashionMNISTInstalled)) func brightenOnATrainedLeNet() throws {
        let folder = try temporaryFolder()
        var spec = try NetSpec.load(path: repositoryRoot + "/nets/lenet.yaml")
        spec.solver?.testIter = 1  // the training's own test is not what is checked
        let trainer = try Trainer(spec: spec, options: TrainingOptions(maxIter: 30, output: folder))
        try trainer.run(logging: false)
        let net = try Net(spec: spec, phase: .test)
        try net.loadWeights(from: folder + "/lenet_iter_30.safetensors")
        let data = net.blobs["data"]!, ones = [Float](repeating: 1, count: data.count)
        let derivative = net.lossTangent(try net.forwardTangents(inputs: ["data": ones]))
        // The same batch, shifted by ±ε after the data layer has written it.
        func loss(shift: Float) throws -> Double {
            net.dataSources[0].rewind()
            try net.forwardLayer(at: 0)
            for i in 0..<data.count { data.data[i] += shift }
            for index in 1..<net.layers.count { try net.forwardLayer(at: index) }
            return Double(net.loss)
        }
        let epsilon: Float = 1e-2
        net.dataSources[0].rewind()
        let difference = (try loss(shift: epsilon) - (try loss(shift: -epsilon))) / Double(2 * epsilon)
        #expect(abs(derivative) > 1e-3)
        #expect(abs(derivative - difference) <= 2e-3 * max(1, abs(difference)), "forward mode \(derivative), central difference \(difference)")
    }

    /// `jvp --input` on a PNG of the data set's first test image gives the very scores and
    /// derivatives that `jvp --batch 1` gives on the data set itself.
    @Test(.enabled(if: fashionMNISTInstalled)) func jvpOnAPictureMatchesTheDataSet() throws {
        let folder = try temporaryFolder()
        let images = try IDXFile(path: fashionMNISTFolder + "/t10k-images-idx3-ubyte.gz")
        try RasterImage(width: 28, height: 28, channels: 1, pixels: Array(images.bytes.prefix(784))).write(to: folder + "/first.png")
        let runner = Fuzzer(binary: FuzzTests.binary, repository: repositoryRoot, root: NSTemporaryDirectory(), seed: 0)
        let net = repositoryRoot + "/nets/logreg.yaml"
        let (a, fromPicture) = runner.run([FuzzTests.binary, "jvp", net, "--input", folder + "/first.png", "--images", "1"])
        let (b, fromData) = runner.run([FuzzTests.binary, "jvp", net, "--batch", "1", "--images", "1"])
        #expect(a == .ran && b == .ran, "\(fromPicture.suffix(300)) \(fromData.suffix(300))")
        func scores(_ text: String) -> String? { text.split(separator: "\n").first { $0.contains("image 0, scores") }.map(String.init) }
        #expect(scores(fromPicture) != nil && scores(fromPicture) == scores(fromData), "\(fromPicture)\n\(fromData)")
        // A picture of another size and colour is resized and turned gray, as the data layer
        // would prepare it: a flat 5×4 colour picture scores as the flat 28×28 gray one.
        try RasterImage(width: 5, height: 4, channels: 3, pixels: [UInt8](repeating: 90, count: 60)).write(to: folder + "/small.png")
        try RasterImage(width: 28, height: 28, channels: 1, pixels: [UInt8](repeating: 90, count: 784)).write(to: folder + "/flat.png")
        let (c, small) = runner.run([FuzzTests.binary, "jvp", net, "--input", folder + "/small.png", "--images", "1"])
        let (d, flat) = runner.run([FuzzTests.binary, "jvp", net, "--input", folder + "/flat.png", "--images", "1"])
        #expect(c == .ran && d == .ran, "\(small.suffix(300)) \(flat.suffix(300))")
        #expect(scores(small) != nil && scores(small) == scores(flat), "\(small)\n\(flat)")
    }

    /// A net with a layer that has no forward mode (a custom layer that does not adopt
    /// TangentLayer) says which one.
    @Test func aLayerWithoutForwardModeIsNamed() throws {
        LayerRegistry.register(NoTangentLayer.self, as: "NoTangentForTest")
        let net = try Net(spec: try NetSpec.parse("""
        layers:
          - {name: in, type: Input, top: [x], shape: [[2, 4]]}
          - {name: plain, type: NoTangentForTest, bottom: x, top: y}
        """), phase: .train)
        #expect { try net.forwardTangents(inputs: ["x": [Float](repeating: 1, count: 8)]) } throws: {
            "\($0)".contains("layer 'plain' (NoTangentForTest): cannot push tangents")
        }
    }

    @Test func shapeAndRoutingLayers() throws {
        try adjoint("{name: f, type: Flatten}", bottoms: [randomBlob([2, 3, 2, 2])])
        try adjoint("{name: r, type: Reshape, shape: [0, -1, 2]}", bottoms: [randomBlob([2, 3, 2, 2])])
        try adjoint("{name: c, type: Concat, axis: 1}", bottoms: [randomBlob([2, 3, 2]), randomBlob([2, 1, 2], seed: 8)])
        try adjoint("{name: d, type: Dropout, dropout_ratio: 0.3}", bottoms: [randomBlob([4, 5])])
    }

    @Test func softmaxAndItsLoss() throws {
        try adjoint("{name: s, type: Softmax}", bottoms: [randomBlob([3, 4, 2])])
        try adjoint("{name: s, type: Softmax}", bottoms: [randomBlob([3, 5])], inPlace: true)
        let labels = labelBlob(count: 6, classes: 4)
        try adjoint("{name: l, type: SoftmaxWithLoss}", bottoms: [randomBlob([3, 4, 2]), labels])
        try adjoint("{name: l, type: SoftmaxWithLoss, label_smoothing: 0.1}", bottoms: [randomBlob([3, 4, 2]), labels])
        labels.data[2] = 7  // ignored below: ignore_label
        try adjoint("{name: l, type: SoftmaxWithLoss, ignore_label: 7, normalization: FULL}", bottoms: [randomBlob([3, 4, 2]), labels])
    }

    @Test func convolutionWithParameterDirections() throws {
        try adjoint("{name: c, type: Convolution, num_output: 4, kernel_size: 3, pad: 1, stride: 2, weight_filler: gaussian, bias_filler: gaussian}",
                    bottoms: [randomBlob([2, 3, 7, 7])])
        try adjoint("{name: c, type: Convolution, num_output: 4, kernel_size: 2, group: 2, dilation: 2, bias_term: false, weight_filler: gaussian}",
                    bottoms: [randomBlob([3, 4, 6, 6])])
    }

    /// MAX pooling with ties (equal values in a window): forward mode follows the same winner
    /// backward does, so the test holds exactly where finite differences cannot say.
    @Test(arguments: ["MAX", "AVE"])
    func pooling(_ method: String) throws {
        let bottom = randomBlob([2, 3, 6, 6])
        for i in stride(from: 0, to: bottom.count, by: 2) { bottom.data[i + 1] = bottom.data[i] }  // ties in every window
        try adjoint("{name: p, type: Pooling, pool: \(method), kernel_size: 3, stride: 2, pad: 1}", bottoms: [bottom])
        try adjoint("{name: p, type: Pooling, pool: \(method), kernel_size: 2, stride: 2}", bottoms: [bottom])
    }

    @Test func eltwise() throws {
        for operation in ["SUM", "PROD", "MAX"] {
            try adjoint("{name: e, type: Eltwise, operation: \(operation)}", bottoms: [randomBlob([2, 3, 4]), randomBlob([2, 3, 4], seed: 8), randomBlob([2, 3, 4], seed: 9)])
        }
        try adjoint("{name: e, type: Eltwise, operation: SUM, coeff: [0.5, -2]}", bottoms: [randomBlob([2, 5]), randomBlob([2, 5], seed: 8)])
    }

    @Test func scaleAndBias() throws {
        try adjoint("{name: s, type: Scale, bias_term: true, filler: gaussian, bias_filler: gaussian}", bottoms: [randomBlob([2, 3, 2, 2])])
        try adjoint("{name: s, type: Scale, filler: gaussian}", bottoms: [randomBlob([2, 3, 2, 2])], inPlace: true)
        try adjoint("{name: s, type: Scale, axis: 0, num_axes: 2}", bottoms: [randomBlob([2, 3, 4]), randomBlob([2, 3], seed: 8)])
        try adjoint("{name: b, type: Bias, filler: gaussian}", bottoms: [randomBlob([2, 3, 2, 2])], inPlace: true)
    }

    @Test func linearLayersAndReductions() throws {
        try adjoint("{name: s, type: Slice, axis: 1, slice_point: [1, 3]}", bottoms: [randomBlob([2, 4, 3])], tops: 3)
        try adjoint("{name: c, type: Crop, axis: 2, offset: [1, 2]}", bottoms: [randomBlob([2, 3, 6, 6]), randomBlob([2, 3, 3, 3], seed: 8)])
        try adjoint("{name: t, type: Tile, axis: 1, tiles: 3}", bottoms: [randomBlob([2, 3, 2])])
        try adjoint("{name: f, type: Flip, axis: 2}", bottoms: [randomBlob([2, 2, 3, 2])])
        try adjoint("{name: i, type: Im2col, kernel_size: 3, stride: 2, pad: 1}", bottoms: [randomBlob([2, 2, 5, 5])])
        for operation in ["SUM", "MEAN", "ASUM", "SUMSQ"] {
            try adjoint("{name: r, type: Reduction, operation: \(operation), axis: 1, coeff: 0.5}", bottoms: [randomBlob([3, 4, 2])])
        }
    }

    @Test func preluEmbedAndIndexOutputs() throws {
        try adjoint("{name: p, type: PReLU, filler: gaussian}", bottoms: [randomBlob([2, 3, 2, 2])])
        try adjoint("{name: p, type: PReLU, channel_shared: true}", bottoms: [randomBlob([2, 3, 4])])
        let ids = Blob(shape: [4])
        ids.setData([0, 2, 1, 2])
        try adjoint("{name: e, type: Embed, input_dim: 3, num_output: 4, weight_filler: gaussian, bias_filler: gaussian}", bottoms: [ids])
        // Indices and accuracies: no derivative in either mode (both sides are exactly 0).
        for (yaml, bottoms) in [("{name: a, type: ArgMax, top_k: 2}", [randomBlob([3, 5])]),
                                ("{name: a, type: Accuracy}", [randomBlob([4, 3]), labelBlob(count: 4, classes: 3)])] {
            let layer = try makeLayer(yaml) as! any TangentLayer
            let top = Blob()
            try layer.setUp(bottom: bottoms, top: [top])
            let result = try AdjointCheck().check(layer, bottom: bottoms, top: [top])
            #expect(result.forwardMode == 0 && result.reverseMode == 0, "\(yaml): \(result)")
        }
    }

    @Test func losses() throws {
        let labels = labelBlob(count: 4, classes: 3)
        try adjoint("{name: h, type: HingeLoss}", bottoms: [randomBlob([4, 3]), labels])
        try adjoint("{name: h, type: HingeLoss, norm: L2}", bottoms: [randomBlob([4, 3]), labels])
        let targets = randomBlob([4, 3], seed: 12, range: 0...1)
        targets.needsGradient = false
        try adjoint("{name: s, type: SigmoidCrossEntropyLoss}", bottoms: [randomBlob([4, 3]), targets])
        try adjoint("{name: i, type: InfogainLoss, infogain_matrix: [[1, 0.5, 0], [0, 1, 0.2], [0.1, 0, 1]]}",
                    bottoms: [randomBlob([4, 3], range: 0.05...1), labels])
        let similar = Blob(shape: [4])
        similar.setData([1, 0, 0, 1])
        for legacy in [false, true] {
            try adjoint("{name: c, type: ContrastiveLoss, margin: 2, legacy_version: \(legacy)}",
                        bottoms: [randomBlob([4, 3]), randomBlob([4, 3], seed: 8), similar])
        }
    }

    @Test func batchNorm() throws {
        try adjoint("{name: b, type: BatchNorm}", bottoms: [randomBlob([4, 3, 2, 2])])
        try adjoint("{name: b, type: BatchNorm}", bottoms: [randomBlob([4, 3, 2])], inPlace: true)
        try adjoint("{name: b, type: BatchNorm, use_global_stats: true}", bottoms: [randomBlob([4, 3, 2, 2])])
    }

    @Test func localResponseNormalisation() throws {
        try adjoint("{name: l, type: LRN, local_size: 3, alpha: 0.5}", bottoms: [randomBlob([2, 5, 3, 3])])
        try adjoint("{name: l, type: LRN, local_size: 3, alpha: 0.5, norm_region: WITHIN_CHANNEL}", bottoms: [randomBlob([2, 2, 4, 4])])
    }

    @Test func deconvolutionAndLocallyConnected() throws {
        try adjoint("{name: d, type: Deconvolution, num_output: 2, kernel_size: 3, stride: 2, pad: 1, weight_filler: gaussian, bias_filler: gaussian}",
                    bottoms: [randomBlob([2, 3, 3, 3])])
        try adjoint("{name: l, type: LocallyConnected, num_output: 2, kernel_size: 2, stride: 1, weight_filler: gaussian, bias_filler: gaussian}",
                    bottoms: [randomBlob([2, 2, 4, 4])])
    }

    /// Every built-in layer except the data layers has forward mode.
    @Test func everyBuiltInLayerHasForwardMode() {
        let shipped = LayerRegistry.typeNames.compactMap { LayerRegistry.type(named: $0) }.filter(isShippedLayer)
        let missing = shipped.filter { $0.bottomCount != 0...0 && !($0 is any TangentLayer.Type) }
        #expect(shipped.count >= 50, "the registry lists the built-in layers")
        #expect(missing.isEmpty, "no forward mode: \(missing)")
    }

    /// A backward with a planted mistake fails the test: it is not vacuous.
    @Test func aWrongBackwardFails() throws {
        let layer = try makeLayer("{name: f, type: Sigmoid}") as! any TangentLayer
        let bottom = randomBlob([3, 4]), top = Blob()
        try layer.setUp(bottom: [bottom], top: [top])
        let wrong = WrongBackward(inner: layer)
        let result = try AdjointCheck().check(wrong, bottom: [bottom], top: [top])
        #expect(result.relativeError > 1e-2, "\(result)")
    }
}

/// A layer that forwards to `inner` but doubles one element of the bottom's gradient.
final class WrongBackward: TangentLayer {
    let inner: any TangentLayer
    var spec: LayerSpec { inner.spec }
    var params: [Blob] { get { inner.params } set { inner.params = newValue } }
    init(inner: any TangentLayer) { self.inner = inner }
    required init(spec: LayerSpec, context: LayerContext) throws { throw SwiftCaffeError("WrongBackward wraps a layer the test built") }
    func setUp(bottom: [Blob], top: [Blob]) throws { try inner.setUp(bottom: bottom, top: top) }
    func forward(bottom: [Blob], top: [Blob]) throws { try inner.forward(bottom: bottom, top: top) }
    func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        inner.backward(topDiff: top, bottomDiff: bottom)
        bottom[0].diff[1] *= 2
    }
    func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        inner.forwardTangent(bottom: bottom, bottomTangent: bottomTangent, top: top, topTangent: topTangent, parameterTangent: parameterTangent)
    }
}

/// y = x, without forward mode: what a custom layer that never adopted TangentLayer is.
final class NoTangentLayer: Layer {
    let spec: LayerSpec
    var params: [Blob] = []
    init(spec: LayerSpec, context: LayerContext) throws { self.spec = spec }
    func setUp(bottom: [Blob], top: [Blob]) throws { try top[0].reshape(bottom[0].shape) }
    func forward(bottom: [Blob], top: [Blob]) {
        top[0].data.update(from: bottom[0].data, count: bottom[0].count)
    }
    func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}
}

import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Graph building: order independence, in-place layers, gradient summing, phases.
@Suite struct NetTests {
    /// A small conv net with an in-place Sigmoid (smooth, so finite differences see no kink) and a branch: `feat` feeds both the classifier and an auxiliary
    /// Euclidean loss, so its gradient is the sum of two paths.
    static let branchy = """
    name: branchy
    layers:
      - {name: input, type: Input, top: [data, label, target], shape: [[2, 1, 6, 6], [2], [2, 3]]}
      - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 2, kernel_size: 3, weight_filler: gaussian, bias_filler: gaussian}
      - {name: relu, type: Sigmoid, bottom: conv, top: conv}
      - {name: pool, type: Pooling, bottom: conv, top: pool, pool: AVE, kernel_size: 2, stride: 2}
      - {name: feat, type: InnerProduct, bottom: pool, top: feat, num_output: 3, weight_filler: gaussian}
      - {name: squash, type: TanH, bottom: feat, top: squashed}
      - {name: aux, type: EuclideanLoss, bottom: [squashed, target], top: aux_loss, loss_weight: 0.5}
      - {name: cls, type: InnerProduct, bottom: feat, top: scores, num_output: 4, weight_filler: gaussian}
      - {name: loss, type: SoftmaxWithLoss, bottom: [scores, label], top: loss}
      - {name: accuracy, type: Accuracy, bottom: [scores, label], top: accuracy, phase: test}
    """

    func fillInputs(_ net: Net) {
        var rng = RandomGenerator(seed: 42)
        for i in 0..<net.blobs["data"]!.count { net.blobs["data"]!.data[i] = rng.uniform(-1, 1) }
        net.blobs["label"]!.setData([1, 3])
        net.blobs["target"]!.setData([0.5, -0.2, 0.1, -0.4, 0.3, 0.9])
    }

    func reversed(_ yaml: String) -> String {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let layerLines = lines.filter { $0.hasPrefix("  - ") }
        let header = lines.filter { !$0.hasPrefix("  - ") }
        return (header + layerLines.reversed()).joined(separator: "\n")
    }

    /// A Silence takes a blob out of the outputs and changes no gradient: it is the zero it
    /// adds to its bottom's diff (through the Split), not an omission that would leave stale values.
    @Test func silenceHidesABlobAndAddsNoGradient() throws {
        let extra = Self.branchy + "\n  - {name: extra, type: Sigmoid, bottom: feat, top: extra}"
        let silenced = extra + "\n  - {name: quiet, type: Silence, bottom: [extra, squashed]}"
        let plain = try Net(spec: try NetSpec.parse(extra), phase: .train, seed: 4)
        let quiet = try Net(spec: try NetSpec.parse(silenced), phase: .train, seed: 4)
        #expect(Set(plain.outputNames) == ["aux_loss", "extra", "loss"] && Set(quiet.outputNames) == ["aux_loss", "loss"])
        for net in [plain, quiet] {
            fillInputs(net)
            try net.forward()
            net.backward()
        }
        #expect(quiet.loss == plain.loss)
        for (a, b) in zip(plain.parameters, quiet.parameters) { #expect(a.blob.diffArray == b.blob.diffArray, "\(a.name)") }
        #expect(quiet.layers.contains { $0.spec.type == "Silence" })
    }

    @Test func fileOrderDoesNotMatter() throws {
        let forward = try Net(spec: try NetSpec.parse(Self.branchy), phase: .train, seed: 9)
        let backward = try Net(spec: try NetSpec.parse(reversed(Self.branchy)), phase: .train, seed: 9)
        #expect(forward.layers.map(\.name) == backward.layers.map(\.name))
        for net in [forward, backward] {
            fillInputs(net)
            net.zeroParameterDiffs()
            try net.forward()
            net.backward()
        }
        #expect(forward.loss == backward.loss)
        #expect(forward.parameters.map(\.name) == backward.parameters.map(\.name))
        for (a, b) in zip(forward.parameters, backward.parameters) {
            #expect(a.blob.dataArray == b.blob.dataArray)
            #expect(a.blob.diffArray == b.blob.diffArray)
        }
    }

    @Test func scheduleRespectsEveryDependency() throws {
        let net = try Net(spec: try NetSpec.parse(reversed(Self.branchy)), phase: .train)
        let order = net.layers.map(\.name)
        func before(_ a: String, _ b: String) -> Bool { order.firstIndex(of: a)! < order.firstIndex(of: b)! }
        #expect(before("input", "conv") && before("conv", "relu") && before("relu", "pool"))
        #expect(before("feat", "squash") && before("feat", "cls") && before("cls", "loss"))
        // `feat` has two readers, so a Split sums their gradients.
        #expect(order.contains("feat_split"))
        #expect(before("feat", "feat_split") && before("feat_split", "squash") && before("feat_split", "cls"))
    }

    /// A layer's spec names the blobs the net connects it to, Splits included, in both phases
    /// (the test phase builds from the same file specs after the train phase rewired its own).
    @Test func specsAgreeWithTheNetAboutBlobs() throws {
        let spec = try NetSpec.parse(Self.branchy)
        for phase in Phase.allCases {
            let net = try Net(spec: spec, phase: phase)
            for (index, layer) in net.layers.enumerated() {
                #expect(layer.spec.bottoms == net.bottoms[index].map(\.name), "\(phase) \(layer.name)")
                #expect(layer.spec.tops == net.tops[index].map(\.name), "\(phase) \(layer.name)")
            }
            let split = try #require(net.plan.layer(named: "feat_split"))
            #expect(split.spec.type == "Split" && split.spec.bottoms == ["feat"])
            #expect(split.spec.location == spec.layers.first { $0.name == "feat" }!.location)
        }
        // The file's own specs still read what the file says.
        #expect(spec.layers.first { $0.name == "cls" }!.bottoms == ["feat"])
    }

    /// The whole net's parameter gradients, through the split, the in-place ReLU and both
    /// weighted losses, against finite differences of the net's loss.
    @Test func netGradientsMatchFiniteDifferences() throws {
        let net = try Net(spec: try NetSpec.parse(Self.branchy), phase: .train, seed: 3)
        fillInputs(net)
        net.zeroParameterDiffs()
        try net.forward()
        net.backward()
        let step: Float = 1e-2
        for parameter in net.parameters {
            let analytic = parameter.blob.diffArray
            for i in 0..<parameter.blob.count {
                let original = parameter.blob.data[i]
                parameter.blob.data[i] = original + step
                let plus = Double(try net.forwardLoss())
                parameter.blob.data[i] = original - step
                let minus = Double(try net.forwardLoss())
                parameter.blob.data[i] = original
                let numeric = Float((plus - minus) / Double(2 * step))
                let scale = max(abs(numeric), abs(analytic[i]), 1)
                #expect(abs(numeric - analytic[i]) <= 2e-3 * scale, "\(parameter.name)[\(i)]: analytic \(analytic[i]), numeric \(numeric)")
            }
        }
    }

    @Test func inPlaceEqualsOutOfPlace() throws {
        let inPlace = try Net(spec: try NetSpec.parse(Self.branchy), phase: .train, seed: 4)
        let outOfPlace = try Net(spec: try NetSpec.parse(Self.branchy
            .replacingOccurrences(of: "bottom: conv, top: conv}", with: "bottom: conv, top: relu_out}")
            .replacingOccurrences(of: "Pooling, bottom: conv", with: "Pooling, bottom: relu_out")), phase: .train, seed: 4)
        for net in [inPlace, outOfPlace] {
            fillInputs(net)
            net.zeroParameterDiffs()
            try net.forward()
            net.backward()
        }
        #expect(inPlace.loss == outOfPlace.loss)
        for (a, b) in zip(inPlace.parameters, outOfPlace.parameters) { #expect(a.blob.diffArray == b.blob.diffArray) }
    }

    /// Folding for training (a Scale, then a ReLU, into the BatchNorm before them; a ReLU
    /// alone; a Scale without bias alone) computes the same forward floats and, summed in
    /// another order, the same gradients as the layers as written, for the parameters of the
    /// folded Scales and for the input; a test net still shares the folded Scales' parameters.
    /// bn3 works on r2's output in place, so it reads a copy (`c2~bn3`): r2's backward needs
    /// the values it wrote.
    @Test func foldingForTrainingKeepsValuesAndGradients() throws {
        let text = """
            name: folding
            layers:
              - {name: input, type: Input, top: [data, label], shape: [[3, 2, 5, 5], [3]]}
              - {name: c1, type: Convolution, bottom: data, top: c1, num_output: 4, kernel_size: 3, pad: 1, bias_term: false, weight_filler: gaussian}
              - {name: bn1, type: BatchNorm, bottom: c1, top: c1}
              - {name: sc1, type: Scale, bottom: c1, top: c1, bias_term: true, filler: {type: uniform, min: 0.5, max: 1.5}, bias_filler: gaussian}
              - {name: r1, type: ReLU, bottom: c1, top: c1, negative_slope: 0.1}
              - {name: c2, type: Convolution, bottom: c1, top: c2, num_output: 3, kernel_size: 3, bias_term: false, weight_filler: gaussian}
              - {name: bn2, type: BatchNorm, bottom: c2, top: c2}
              - {name: r2, type: ReLU, bottom: c2, top: c2}
              - {name: bn3, type: BatchNorm, bottom: c2, top: c2}
              - {name: sc3, type: Scale, bottom: c2, top: c2, filler: gaussian}
              - {name: ip, type: InnerProduct, bottom: c2, top: scores, num_output: 4, weight_filler: gaussian}
              - {name: loss, type: SoftmaxWithLoss, bottom: [scores, label], top: loss}
            """
        let spec = try NetSpec.parse(text)
        func run(_ purpose: NetPurpose) throws -> Net {
            let net = try Net(spec: spec, options: NetOptions(phase: .train, seed: 5, purpose: purpose, inputGradients: ["data"]))
            net.blobs["data"]!.setData(randomBlob([3, 2, 5, 5], seed: 6, range: -2...3).dataArray)
            net.blobs["label"]!.setData([0, 3, 1])
            net.zeroParameterDiffs()
            try net.forward()
            net.backward()
            return net
        }
        let plain = try run(.asWritten), folded = try run(.training)
        #expect(folded.plan.folded.map { "\($0.layer.name)>\($0.into)" } == ["sc1>bn1", "r1>bn1", "r2>bn2", "sc3>bn3"])
        #expect(folded.plan.layer(named: "bn3")!.spec.bottoms == ["c2~bn3"] && folded.plan.layer(named: "r2")!.spec.tops == ["c2~bn3"])
        #expect(plain.plan.folded.isEmpty)
        #expect(folded.loss == plain.loss)
        for name in ["c1", "c2~bn3", "c2", "scores"] { #expect(folded.blobs[name]!.dataArray == plain.blobs[name]!.dataArray, "\(name)") }
        #expect(plain.blobs["c1"]!.dataArray.contains { $0 < 0 })  // the leaky ReLU's slope is in play
        func expectClose(_ a: [Float], _ b: [Float], _ what: String) {
            let scale = b.map(abs).max() ?? 0
            #expect(scale > 1e-3, "\(what) is all zero")
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "\(what): \(a) against \(b)")
        }
        for (a, b) in zip(folded.parameters, plain.parameters) where b.lrMult > 0 { expectClose(a.blob.diffArray, b.blob.diffArray, a.name) }
        expectClose(folded.blobs["data"]!.diffArray, plain.blobs["data"]!.diffArray, "data")
        // Running statistics still move as in Caffe.
        for (a, b) in zip(folded.parameters, plain.parameters) where b.layer.hasPrefix("bn") { #expect(a.blob.dataArray == b.blob.dataArray) }

        let test = try Net(spec: spec, options: NetOptions(phase: .test, purpose: .inference, sharingParametersWith: folded))
        for name in ["sc1", "sc3"] {
            #expect(zip(try #require(test.plan.layer(named: name)).params, try #require(folded.plan.layer(named: name)).params).allSatisfy { $0 === $1 })
        }
    }

    /// An inference net's blobs take turns in shared memory: fewer bytes, the same outputs,
    /// no layer reading and writing one buffer under two names, and the input, the scores
    /// and labels, the outputs and the blobs asked for still whole after forward.
    @Test func inferenceBlobsShareMemory() throws {
        let text = """
            name: sharing
            layers:
              - {name: input, type: Input, top: [data, label], shape: [[2, 3, 8, 8], [2]]}
              - {name: c1, type: Convolution, bottom: data, top: c1, num_output: 4, kernel_size: 3, pad: 1, weight_filler: gaussian}
              - {name: r1, type: ReLU, bottom: c1, top: c1}
              - {name: c2, type: Convolution, bottom: c1, top: c2, num_output: 4, kernel_size: 3, pad: 1, weight_filler: gaussian}
              - {name: t2, type: TanH, bottom: c2, top: t2}
              - {name: c3, type: Convolution, bottom: t2, top: c3, num_output: 4, kernel_size: 1, weight_filler: gaussian}
              - {name: sum, type: Eltwise, bottom: [c1, c3], top: sum}
              - {name: pool, type: Pooling, bottom: sum, top: pool, pool: MAX, kernel_size: 2, stride: 2}
              - {name: ip, type: InnerProduct, bottom: pool, top: scores, num_output: 5, weight_filler: gaussian}
              - {name: prob, type: Softmax, bottom: scores, top: prob}
              - {name: accuracy, type: Accuracy, bottom: [scores, label], top: accuracy}
            """
        let spec = try NetSpec.parse(text)
        let input = randomBlob([2, 3, 8, 8], seed: 4).dataArray
        func run(_ purpose: NetPurpose) throws -> Net {
            let net = try Net(spec: spec, options: NetOptions(phase: .test, seed: 3, purpose: purpose, keeping: ["t2"]))
            net.blobs["data"]!.setData(input)
            net.blobs["label"]!.setData([1, 4])
            try net.forward()
            return net
        }
        let plain = try run(.asWritten), shared = try run(.inference)
        #expect(shared.plan.memory.activationBytes < shared.plan.memory.separateActivationBytes)
        #expect(shared.plan.memory.activationBuffers < shared.blobs.count)
        #expect(plain.plan.memory.activationBytes == plain.plan.memory.separateActivationBytes)
        for name in ["data", "label", "scores", "prob", "accuracy", "t2"] { #expect(shared.blobs[name]!.dataArray == plain.blobs[name]!.dataArray, "\(name)") }
        #expect(shared.blobs["data"]!.dataArray == input)
        // Some blob did take another's memory, and never one the same layer reads.
        #expect(Set(shared.blobs.values.map { UInt(bitPattern: $0.data) }).count < shared.blobs.count)
        for index in shared.layers.indices {
            for top in shared.tops[index] {
                for bottom in shared.bottoms[index] where bottom !== top { #expect(bottom.data != top.data, "\(shared.layers[index].name)") }
            }
        }
    }

    @Test func phasesSelectTheirLayers() throws {
        let spec = try NetSpec.parse(Self.branchy)
        let train = try Net(spec: spec, phase: .train)
        let test = try Net(spec: spec, options: NetOptions(phase: .test, sharingParametersWith: train))
        #expect(train.plan.layer(named: "accuracy") == nil)
        #expect(test.plan.layer(named: "accuracy") != nil)
        #expect(test.outputNames.contains("accuracy"))
        // The test net uses the very same parameter blobs.
        for (a, b) in zip(train.parameters, test.parameters) { #expect(a.blob === b.blob) }
    }

    /// nets/fashion_aug.yaml scores a test image as the average of the net's scores for it
    /// and for its mirror (Flip, Concat, Slice, Eltwise): mirroring the image leaves its
    /// scores as they were, though it changes the net's scores for the image alone.
    @Test(.enabled(if: fashionMNISTInstalled)) func fashionAugAveragesOverAnImageAndItsMirror() throws {
        let yaml = try String(contentsOfFile: repositoryRoot + "/nets/fashion_aug.yaml", encoding: .utf8)
            .replacingOccurrences(of: #"batch_size: \d+"#, with: "batch_size: 4", options: .regularExpression)
        let net = try Net(spec: try NetSpec.parse(yaml, file: "fashion_aug.yaml"), phase: .test)  // weights from the fillers
        try net.forward()
        let image = try #require(net.blobs["image"]), scores = try #require(net.blobs["scores"]), views = try #require(net.blobs["ip2"])
        let (count, width) = (image.shape[0], image.shape[3])
        #expect(scores.shape == [count, 10] && views.shape == [2 * count, 10])
        let averaged = scores.dataArray, alone = Array(views.dataArray.prefix(count * 10))
        let original = image.dataArray
        var mirrored = original
        for row in 0..<(original.count / width) {
            for x in 0..<width { mirrored[row * width + x] = original[row * width + width - 1 - x] }
        }
        try net.forward(replacing: ["image": mirrored])
        // Each view runs in the other's place in the batch, so the sums may round differently.
        #expect(zip(scores.dataArray, averaged).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(zip(views.dataArray.prefix(count * 10), alone).contains { abs($0 - $1) > 1e-2 * max(1, abs($1)) })
    }

    @Test func backwardSkipsWhatNeedsNoGradient() throws {
        let net = try Net(spec: try NetSpec.parse(Self.branchy), phase: .train)
        #expect(net.blobs["data"]!.needsGradient == false)
        #expect(net.blobs["label"]!.needsGradient == false)
        #expect(net.blobs["conv"]!.needsGradient == true)
        fillInputs(net)
        try net.forward()
        net.backward()
        #expect(net.blobs["data"]!.diffArray.allSatisfy { $0 == 0 })
    }

    @Test func lossWeightsScaleTheLoss() throws {
        let net = try Net(spec: try NetSpec.parse(Self.branchy), phase: .train)
        fillInputs(net)
        let total = try net.forwardLoss()
        let expected = net.blobs["loss"]!.data[0] + 0.5 * net.blobs["aux_loss"]!.data[0]
        #expect(abs(total - expected) < 1e-6)
    }

    /// Two layers naming the same parameter use one blob, and its gradient is the sum of both
    /// layers' contributions (checked against finite differences of the loss).
    @Test func sharedParametersAddTheirGradients() throws {
        let yaml = """
        layers:
          - {name: input, type: Input, top: [a, b, target], shape: [[2, 3], [2, 3], [2, 4]]}
          - {name: left, type: InnerProduct, bottom: a, top: left, num_output: 4, weight_filler: gaussian, param: [{name: shared_w}, {name: shared_b}]}
          - {name: right, type: InnerProduct, bottom: b, top: right, num_output: 4, weight_filler: gaussian, param: [{name: shared_w}, {name: shared_b}]}
          - {name: squash, type: TanH, bottom: right, top: squashed}
          - {name: l1, type: EuclideanLoss, bottom: [left, target], top: l1}
          - {name: l2, type: EuclideanLoss, bottom: [squashed, target], top: l2}
        """
        let net = try Net(spec: try NetSpec.parse(yaml), phase: .train)
        #expect(net.plan.layer(named: "left")!.params[0] === net.plan.layer(named: "right")!.params[0])
        #expect(net.parameters.count == 2)
        var rng = RandomGenerator(seed: 1)
        for name in ["a", "b", "target"] { for i in 0..<net.blobs[name]!.count { net.blobs[name]!.data[i] = rng.uniform(-1, 1) } }
        net.zeroParameterDiffs()
        try net.forward()
        net.backward()
        let weight = net.parameters[0].blob
        let analytic = weight.diffArray
        for i in 0..<weight.count {
            let original = weight.data[i]
            weight.data[i] = original + 1e-2
            let plus = Double(try net.forwardLoss())
            weight.data[i] = original - 1e-2
            let minus = Double(try net.forwardLoss())
            weight.data[i] = original
            let numeric = Float((plus - minus) / 2e-2)
            #expect(abs(numeric - analytic[i]) <= 2e-3 * max(1, abs(numeric)), "[\(i)]: analytic \(analytic[i]), numeric \(numeric)")
        }
    }

    @Test func sharedParametersMustAgreeInShape() throws {
        let yaml = """
        layers:
          - {name: input, type: Input, top: [a], shape: [2, 3]}
          - {name: left, type: InnerProduct, bottom: a, top: left, num_output: 4, param: [{name: w}]}
          - {name: right, type: InnerProduct, bottom: a, top: right, num_output: 5, param: [{name: w}]}
        """
        #expect { try Net(spec: try NetSpec.parse(yaml), phase: .train) } throws: { "\($0)".contains("shared parameter 'w'") }
    }
}

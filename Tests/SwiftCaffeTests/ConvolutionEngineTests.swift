import Foundation
import Testing
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// The convolution engine (oneDNN) against the im2col path it replaces, on the shapes and
/// foldings the shipped and deploy nets use. The two add in different orders, so they agree
/// to float rounding, not bit for bit: the bounds are relative to the largest value.
@Suite struct ConvolutionEngineTests {
    /// A ResNet bottleneck block between a strided stem and a classifier: BatchNorm, Scale and
    /// ReLU folded into convolutions, a strided 1×1 shortcut, a residual sum with its ReLU
    /// folded, a grouped and a dilated convolution, pooling at both ends.
    static let block = """
        layers:
          - {name: in, type: Input, top: data, shape: [3, 3, 19, 17]}
          - {name: stem, type: Convolution, bottom: data, top: stem, num_output: 32, kernel_size: 3, stride: 2, pad: 1, weight_filler: msra, bias_filler: {type: gaussian, std: 0.1}}
          - {name: stem_relu, type: ReLU, bottom: stem, top: stem}
          - {name: pool, type: Pooling, bottom: stem, top: pool, pool: MAX, kernel_size: 3, stride: 1, pad: 1}
          - {name: short, type: Convolution, bottom: pool, top: short, num_output: 32, kernel_size: 1, stride: 2, bias_term: false, weight_filler: msra}
          - {name: a, type: Convolution, bottom: pool, top: a, num_output: 32, kernel_size: 1, bias_term: false, weight_filler: msra}
          - {name: a_bn, type: BatchNorm, bottom: a, top: a}
          - {name: a_scale, type: Scale, bottom: a, top: a, bias_term: true, filler: {type: uniform, min: 0.5, max: 1.5}, bias_filler: {type: gaussian, std: 0.1}}
          - {name: a_relu, type: ReLU, bottom: a, top: a}
          - {name: b, type: Convolution, bottom: a, top: b, num_output: 32, kernel_size: 3, stride: 2, pad: 1, group: 2, weight_filler: msra}
          - {name: b_relu, type: ReLU, bottom: b, top: b, negative_slope: 0.1}
          - {name: c, type: Convolution, bottom: b, top: c, num_output: 32, kernel_size: 3, pad: 2, dilation: 2, weight_filler: msra}
          - {name: sum, type: Eltwise, bottom: [short, c], top: sum}
          - {name: sum_relu, type: ReLU, bottom: sum, top: sum}
          - {name: d, type: Convolution, bottom: sum, top: d, num_output: 32, kernel_size: 1, weight_filler: msra}
          - {name: sum2, type: Eltwise, bottom: [sum, d], top: sum2}
          - {name: gap, type: Pooling, bottom: sum2, top: gap, pool: AVE, global_pooling: true}
          - {name: fc, type: InnerProduct, bottom: gap, top: fc, num_output: 5, weight_filler: xavier}
        """

    static func input(_ count: Int) -> [Float] {
        var generator = RandomGenerator(seed: 9, stream: "engine-input")
        return (0..<count).map { _ in generator.gaussian() }
    }

    /// BatchNorm statistics that are not the identity, so that folding them is tested.
    static func setStatistics(_ net: Net) {
        guard let bn = net.plan.layer(named: "a_bn") else { return }
        bn.params[0].setData((0..<32).map { Float($0) * 0.1 - 0.3 })
        bn.params[1].setData((0..<32).map { 0.5 + Float($0) * 0.2 })
        bn.params[2].setData([1])
    }

    static func outputs(engine: Bool, purpose: NetPurpose, keeping: Set<String> = []) throws -> (fc: [Float], kept: [String: [Float]]) {
        try ConvolutionEngine.$isEnabled.withValue(engine) {
            let net = try Net(spec: try NetSpec.parse(block), options: NetOptions(phase: .test, purpose: purpose, keeping: keeping))
            setStatistics(net)
            net.parametersChanged()
            try net.forward(replacing: ["data": input(3 * 3 * 19 * 17)])
            // At inference every blob between the stem and the global pooling is channels-last
            // (pooling too), so every convolution runs in the engine; but a kept `sum` stays
            // N×C×H×W, and so does `sum2` with it, which leaves d both sides planar. As written,
            // only a, b and c have enough work (100 multiply-adds a value) to pay for reordering
            // both sides.
            let ran = ["stem", "short", "a", "b", "c", "d"].map { (net.plan.layer(named: $0) as! ConvolutionLayer).ranInEngine }
            let inference = engine && purpose == .inference
            #expect(ran == [inference, inference, engine, engine, engine, inference && !keeping.contains("sum")], "\(ran)")
            // At inference the sum of short and c is folded, unless a user keeps it: the net
            // runs c before short, so short adds into c's blob. d cannot take sum2 over (it
            // reads the blob it would add to).
            let folds = ["c", "short", "d"].map { (net.plan.layer(named: $0) as! ConvolutionLayer).foldsResidualSum }
            #expect(folds == [false, purpose == .inference && !keeping.contains("sum"), false], "\(folds)")
            return (net.blobs["fc"]!.dataArray, Dictionary(uniqueKeysWithValues: keeping.map { ($0, net.blobs[$0]!.dataArray) }))
        }
    }

    static func expectClose(_ a: [Float], _ b: [Float], _ what: String) {
        let scale = max(a.map(abs).max() ?? 0, 1e-3)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        #expect(a.count == b.count && worst <= 2e-5 * scale, "\(what): max difference \(worst) at scale \(scale)")
    }

    @Test func inferenceMatchesTheIm2colPathWithFoldingAndChannelsLastBlobs() throws {
        let reference = try Self.outputs(engine: false, purpose: .asWritten, keeping: ["b", "sum"])
        let engine = try Self.outputs(engine: true, purpose: .inference, keeping: ["b", "sum"])
        Self.expectClose(engine.fc, reference.fc, "fc")
        // Blobs a user keeps are N×C×H×W whatever the layers in between ran on.
        for name in ["b", "sum"] { Self.expectClose(engine.kept[name]!, reference.kept[name]!, name) }
        let plain = try Self.outputs(engine: true, purpose: .inference)
        Self.expectClose(plain.fc, reference.fc, "fc without kept blobs")
        // The residual sum folded into c without the engine: im2col, then the add and the ReLU.
        let withoutEngine = try Self.outputs(engine: false, purpose: .inference)
        Self.expectClose(withoutEngine.fc, reference.fc, "fc without the engine")
    }

    /// An inference net's 3×3 convolutions over enough positions run by Winograd, to within
    /// the bound of the direct kernels; `SWIFTCAFFE_CONVOLUTION=direct` (`allowsWinograd`) and
    /// training keep them direct.
    @Test func winogradAgreesWithIm2col() throws {
        let spec = try NetSpec.parse("""
            layers:
              - {name: in, type: Input, top: data, shape: [2, 32, 28, 28]}
              - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 48, kernel_size: 3, pad: 1, weight_filler: msra, bias_filler: {type: gaussian, std: 0.1}}
              - {name: relu, type: ReLU, bottom: conv, top: conv}
            """)
        func run(engine: Bool, winograd: Bool, purpose: NetPurpose) throws -> (values: [Float], kernel: String?) {
            try ConvolutionEngine.$isEnabled.withValue(engine) {
                try ConvolutionEngine.$allowsWinograd.withValue(winograd) {
                    let net = try Net(spec: spec, options: NetOptions(phase: .test, seed: 3, purpose: purpose))
                    try net.forward(replacing: ["data": Self.input(2 * 32 * 28 * 28)])
                    return (net.blobs["conv"]!.dataArray, (net.plan.layer(named: "conv") as! ConvolutionLayer).engineKernel)
                }
            }
        }
        let reference = try run(engine: false, winograd: false, purpose: .asWritten)
        let winograd = try run(engine: true, winograd: true, purpose: .inference)
        #expect(winograd.kernel?.contains("wino") == true, "\(winograd.kernel ?? "no engine")")
        Self.expectClose(winograd.values, reference.values, "Winograd")
        let direct = try run(engine: true, winograd: false, purpose: .inference)
        #expect(direct.kernel?.contains("wino") == false, "\(direct.kernel ?? "no engine")")
        Self.expectClose(direct.values, reference.values, "direct")
        #expect(try run(engine: true, winograd: true, purpose: .training).kernel?.contains("wino") == false)
    }

    /// A Clip after a convolution (ReLU6) folds into it at inference: oneDNN's `clip` post-op in
    /// the engine, the last step of the epilogue in the im2col path; the values are the
    /// Clip layer's. A Clip after a ReLU folded into the same convolution clips after it.
    @Test(arguments: [false, true])
    func aClipFoldsIntoTheConvolution(relu: Bool) throws {
        let spec = try NetSpec.parse("""
            layers:
              - {name: in, type: Input, top: data, shape: [2, 32, 9, 9]}
              - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 32, kernel_size: 3, pad: 1, weight_filler: msra, bias_filler: {type: gaussian, std: 0.3}}
            \(relu ? "  - {name: relu, type: ReLU, bottom: conv, top: conv}" : "")
              - {name: clip, type: Clip, bottom: conv, top: conv, min: -0.25, max: 0.5}
              - {name: pool, type: Pooling, bottom: conv, top: pool, pool: AVE, global_pooling: true}
            """)
        func run(engine: Bool, purpose: NetPurpose) throws -> (values: [Float], folded: [String]) {
            try ConvolutionEngine.$isEnabled.withValue(engine) {
                let net = try Net(spec: spec, options: NetOptions(phase: .test, seed: 5, purpose: purpose, keeping: ["conv"]))
                try net.forward(replacing: ["data": Self.input(2 * 32 * 9 * 9)])
                #expect((net.plan.layer(named: "conv") as! ConvolutionLayer).ranInEngine == engine)
                return (net.blobs["conv"]!.dataArray, net.plan.folded.map(\.layer.name))
            }
        }
        let reference = try run(engine: false, purpose: .asWritten)
        #expect(reference.values.contains(0.5) && reference.values.contains(relu ? 0 : -0.25), "the bounds were never reached")
        for engine in [false, true] {
            let folded = try run(engine: engine, purpose: .inference)
            #expect(folded.folded.contains("clip"))
            Self.expectClose(folded.values, reference.values, engine ? "engine" : "im2col")
        }
    }

    /// An inference net keeps the engine's copy of its weights; loading weights, and the
    /// call after writing them yourself, must replace it.
    @Test func newWeightsReachAnInferenceNet() throws {
        let folder = try temporaryFolder()
        let spec = try NetSpec.parse(Self.block)
        let trained = try Net(spec: spec, options: NetOptions(phase: .test, seed: 7, purpose: .asWritten))
        Self.setStatistics(trained)
        try trained.saveWeights(to: folder + "/w.safetensors")
        try trained.forward(replacing: ["data": Self.input(3 * 3 * 19 * 17)])
        let expected = trained.blobs["fc"]!.dataArray

        let net = try Net(spec: spec, options: NetOptions(phase: .test, seed: 1, purpose: .inference))
        try net.forward(replacing: ["data": Self.input(3 * 3 * 19 * 17)])
        let before = net.blobs["fc"]!.dataArray
        try net.loadWeights(from: folder + "/w.safetensors")
        try net.forward(replacing: ["data": Self.input(3 * 3 * 19 * 17)])
        Self.expectClose(net.blobs["fc"]!.dataArray, expected, "after loadWeights")
        #expect(before != net.blobs["fc"]!.dataArray)

        let stem = net.plan.layer(named: "stem")!.params[0]
        stem.setData(stem.dataArray.map { $0 * 2 })
        net.parametersChanged()
        try net.forward(replacing: ["data": Self.input(3 * 3 * 19 * 17)])
        let doubled = net.blobs["fc"]!.dataArray
        #expect(doubled != expected, "the doubled stem weights were not used")
    }

    /// Training through the engine: the gradients of the input and the parameters are the
    /// im2col path's, for a grouped, strided and dilated convolution.
    @Test(arguments: ["kernel_size: 3, stride: 2, pad: 1", "kernel_size: 3, pad: 1", "kernel_size: 3, group: 2, dilation: 2, pad: 2",
                      "kernel_size: 3, group: 64, pad: 1"])  // depthwise: the engine takes it whatever its layouts
    func backwardMatchesTheIm2colPath(_ keys: String) throws {
        // 64 → 64 channels (32 a group with group 2) and 3×3 kernels: enough work per value
        // reordered for the engine to take every case.
        func gradients(engine: Bool) throws -> [[Float]] {
            try ConvolutionEngine.$isEnabled.withValue(engine) {
                let layer = try makeLayer("{name: conv, type: Convolution, num_output: 64, \(keys), weight_filler: gaussian, bias_filler: gaussian}", phase: .train)
                let bottom = randomBlob([2, 64, 9, 8]), top = Blob(name: "top")
                bottom.needsGradient = true
                try layer.setUp(bottom: [bottom], top: [top])
                for parameter in layer.params { _ = parameter.allocate() }
                try layer.forward(bottom: [bottom], top: [top])
                var generator = RandomGenerator(seed: 3, stream: "top-diff")
                top.setDiff((0..<top.count).map { _ in generator.gaussian() })
                layer.backward(topDiff: [top], bottomDiff: [bottom])
                #expect((layer as! ConvolutionLayer).ranInEngine == engine)
                return [top.dataArray, bottom.diffArray] + layer.params.map(\.diffArray)
            }
        }
        let reference = try gradients(engine: false), engine = try gradients(engine: true)
        for (index, what) in ["output", "input gradient", "weight gradient", "bias gradient"].enumerated() {
            Self.expectClose(engine[index], reference[index], what)
        }
    }

    /// The restart asks for sleeping OpenMP threads unless the user chose a policy.
    @Test func openMPThreadsSleepUnlessTheUserSaysOtherwise() {
        let original = ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"]
        defer { if let original { setenv("OMP_WAIT_POLICY", original, 1) } else { unsetenv("OMP_WAIT_POLICY") } }
        unsetenv("OMP_WAIT_POLICY")
        #expect(LibraryEnvironment.wanted.contains { $0 == ("OMP_WAIT_POLICY", "PASSIVE") })
        setenv("OMP_WAIT_POLICY", "ACTIVE", 1)
        #expect(!LibraryEnvironment.wanted.contains { $0.name == "OMP_WAIT_POLICY" })
    }
}

import CMachine
import SwiftCaffeCore
import SwiftCaffeSpec

/// 2-D convolution over N×C×H×W bottoms, run by oneDNN (`ConvolutionEngine`) where it can,
/// by direct kernels of our own over few input channels (`runsDirect`), else by im2col + GEMM,
/// as Caffe does.
///
/// Like Caffe's (and every framework's) "convolution" it computes a cross-correlation: the
/// kernel is not flipped. Weights are num_output × (C / group) × kernel_h × kernel_w, bias
/// num_output. With `group: g` the channels and outputs split into g groups, each output seeing
/// only its group's channels; `dilation` spaces the kernel taps.
///
/// The batch is split across threads; each thread walks its images in small blocks, unrolls a
/// block side by side into a (C·kh·kw) × (block·outH·outW) matrix and runs one GEMM on it.
/// Blocks are sized so the unrolled columns stay in the core's L2 cache: measured with
/// LeNet's shapes, OpenBLAS runs such GEMMs at ~90 GFLOP/s a core against 40–75 when the
/// columns of a whole batch stream from memory, and the unrolling itself writes to cache.
/// Backward unrolls each block again rather than keeping the batch's columns (as Caffe does),
/// which costs little in cache and saves their memory. Each thread sums its weight gradient
/// into its own buffer; the buffers are added at the end. This path also computes forward
/// mode, and runs every convolution when the engine is off or has no kernel for a shape.
public final class ConvolutionLayer: Layer, TangentLayer, ReLUFusing, ParameterCaching, ChannelsLastCapable {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let keys: ConvolutionKeys
    let groups: Int
    let context: LayerContext
    private var geometry = WindowGeometry(channels: 0, height: 0, width: 0, kernelH: 0, kernelW: 0)
    private var batch = 0
    /// Images per block. Each thread's scratch (from the net's `ScratchArena`) holds a block's
    /// columns, its output (or output gradient) in GEMM layout, and the thread's partial weight
    /// and bias gradients.
    private var blockImages = 1

    /// Floats of unrolled columns per block: 256 KB, well inside a 1 MB L2 with the weights
    /// (smaller blocks measured alike on LeNet, larger ones slower: docs/performance.md).
    static let blockColumnFloats = 64 * 1024

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        keys = try ConvolutionKeys(spec, dilated: true)
        groups = try spec.int("group", default: 1, in: 1...Int(Int32.max))
    }

    /// Rows of the unrolled columns (all channels), and those one group's outputs read.
    private var kernelVolume: Int { geometry.channels * geometry.kernelH * geometry.kernelW }
    private var groupVolume: Int { kernelVolume / groups }
    private var outputArea: Int { geometry.outputH * geometry.outputW }

    public var forwardFLOPs: Int { batch * keys.numOutput * outputArea * (2 * groupVolume + (keys.biasTerm ? 1 : 0)) }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let input = bottom[0]
        guard input.shape.count == 4 else {
            throw error("expects an N×C×H×W bottom, but '\(input.name)' is \(input.shapeDescription)",
                        hint: "put a Reshape before it, or use InnerProduct for flat inputs")
        }
        batch = input.shape[0]
        geometry = keys.window.geometry(channels: input.shape[1], height: input.shape[2], width: input.shape[3])
        guard geometry.height + 2 * geometry.padH >= geometry.extentH, geometry.width + 2 * geometry.padW >= geometry.extentW else {
            throw error("the \(geometry.extentH)×\(geometry.extentW) kernel is larger than the padded \(geometry.height)×\(geometry.width) input '\(input.name)'",
                        hint: "use a smaller kernel_size or dilation, or more pad")
        }
        guard geometry.channels % groups == 0, keys.numOutput % groups == 0 else {
            throw error("group \(groups) must divide both the \(geometry.channels) input channels and num_output \(keys.numOutput)")
        }
        params = try keys.parameters(of: name, context: context, weightShape: [keys.numOutput, geometry.channels / groups, geometry.kernelH, geometry.kernelW], biasShape: [keys.numOutput])
        try top[0].reshape([batch, keys.numOutput, geometry.outputH, geometry.outputW])
        blockImages = max(1, min(batch, Self.blockColumnFloats / max(kernelVolume * outputArea, 1)))
        let width = Double(blockImages * outputArea), volume = Double(kernelVolume), outputs = Double(keys.numOutput)
        try MemoryBudget.require(floats: Double(Parallel.chunkCount(for: batch)) * (volume * width + outputs * width + volume * outputs + outputs),
                                 for: "its per-thread scratch")
        if engineAllowed { try MemoryBudget.require(floats: engineShape.boundFloats, for: "its convolution engine") }
        if runsDirect { try MemoryBudget.require(floats: Double(Parallel.chunkCount(for: batch) * directScratchFloats.reduce(0, +)), for: "its per-thread scratch") }
    }

    /// Scratch for `chunks` threads: columns, product, gradients.
    private func scratch(_ chunks: Int) -> [(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)] {
        let width = blockImages * outputArea
        return context.scratch.buffers(chunks: chunks, counts: [kernelVolume * width, keys.numOutput * width, kernelVolume * keys.numOutput + keys.numOutput]).map { ($0[0], $0[1], $0[2]) }
    }

    /// Calls `body(chunk, block)` for each block of each thread's share of the batch.
    private func forEachBlock(_ body: (_ chunk: Int, _ images: Range<Int>) -> Void) {
        let block = blockImages
        Parallel.forChunks(of: batch) { chunk, images in
            var first = images.lowerBound
            while first < images.upperBound {
                let last = min(first + block, images.upperBound)
                body(chunk, first..<last)
                first = last
            }
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) throws {
        if let engine = try readyEngine() {
            try engine.forward(bottom[0].data, into: top[0].data, scratch: engineScratch(engine))
            return
        }
        guard foldsResidualSum else {
            convolveWithoutEngine(bottom[0], into: top[0].data)
            return
        }
        // What the engine's sum post-op does: the top holds the other summand.
        var sum = [Float](repeating: 0, count: top[0].count)
        convolveWithoutEngine(bottom[0], into: &sum)
        let output = top[0].data
        for i in sum.indices {
            let value = output[i] + sum[i]
            output[i] = residualReLU?.value(value) ?? value
        }
    }

    /// Forward by the direct kernels or im2col + GEMM, into a buffer in the top's layout.
    private func convolveWithoutEngine(_ bottom: Blob, into output: UnsafeMutablePointer<Float>) {
        if runsDirect {
            convolveDirectly(bottom.data, into: output)
            return
        }
        let bias = keys.biasTerm ? params[1].data : nil
        guard inputChannelsLast || outputChannelsLast else {
            convolve(bottom.data, weights: params[0].data, bias: bias, into: output, adding: false, relu: fusedReLU, normalization: fusedNormalization, clip: fusedClip)
            return
        }
        // The engine has no kernel for this shape after all, but the net planned for one.
        var input = bottom.dataArray, planar = [Float](repeating: 0, count: batch * keys.numOutput * outputArea)
        if inputChannelsLast { ChannelsLastCopy.reorder(bottom.data, into: &input, shape: bottom.shape, toChannelsLast: false) }
        convolve(&input, weights: params[0].data, bias: bias, into: &planar, adding: false, relu: fusedReLU, normalization: fusedNormalization, clip: fusedClip)
        if outputChannelsLast {
            ChannelsLastCopy.reorder(planar, into: output, shape: [batch, keys.numOutput, geometry.outputH, geometry.outputW], toChannelsLast: true)
        } else {
            output.update(from: planar, count: planar.count)
        }
    }

    // MARK: Direct kernels for few input channels

    /// Whether this layer runs the direct kernels (CMachine's `swiftcaffe_direct_convolution`)
    /// instead of im2col + GEMM: over so short an inner dimension OpenBLAS spends more on
    /// packing than on multiplying. Forward, and backward when the bottom takes no gradient
    /// (a net's first layer), for one group, stride 1, no dilation, at most 75 multiply-adds an
    /// output (channels·kh·kw: 25 for LeNet's conv1, 75 for a colour picture's 5×5), rows of at
    /// least 8 outputs, planar blobs, and the engine allowed (`SWIFTCAFFE_CONVOLUTION=gemm`
    /// turns these off too). What inference folds in (a ReLU, BatchNorm or Clip, a residual
    /// sum) is applied after, as on im2col's path, so folding keeps the bits.
    /// docs/performance.md ("Direct kernels for few input channels") has the measurements and
    /// where the 75 comes from.
    private var runsDirect: Bool {
        let g = geometry
        return engineAllowed && engine == nil && groups == 1 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
            && kernelVolume <= 75 && g.outputW >= 8 && !inputChannelsLast && !outputChannelsLast
    }

    /// Whether forward runs the direct kernels (for tests).
    package var ranDirect: Bool { runsDirect }

    /// Per thread: the padded image, the output gradient in the kernel's rows, the weights' and
    /// bias's gradients in 8 lanes, the taps' offsets (longs, in a float buffer of twice as
    /// many), and the gradients summed.
    private var directScratchFloats: [Int] {
        let g = geometry
        return [swiftcaffe_direct_convolution_padded_count(g.channels, g.height, g.padH, g.outputW, g.kernelW),
                swiftcaffe_direct_convolution_diff_count(keys.numOutput, g.outputH, g.outputW, g.kernelW),
                8 * (kernelVolume * keys.numOutput + keys.numOutput), 2 * kernelVolume, kernelVolume * keys.numOutput + keys.numOutput]
    }

    private func convolveDirectly(_ input: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        let g = geometry, outputs = keys.numOutput, inputSize = g.channels * g.height * g.width, outputSize = outputs * outputArea
        let weights = params[0].data, bias = keys.biasTerm ? params[1].data : nil, area = outputArea
        let epilogue = FoldedEpilogue(relu: fusedReLU, normalization: fusedNormalization, clip: fusedClip, outputs: outputs)
        let buffers = context.scratch.buffers(chunks: Parallel.chunkCount(for: batch), counts: directScratchFloats)
        Parallel.forChunks(of: batch) { chunk, images in
            let padded = buffers[chunk][0]
            for n in images {
                swiftcaffe_direct_convolution_pad(input + n * inputSize, g.channels, g.height, g.width, g.padH, g.padW, g.kernelW, g.outputW, padded)
                swiftcaffe_direct_convolution(padded, g.channels, g.height + 2 * g.padH, weights, bias, outputs, g.kernelH, g.kernelW,
                                              output + n * outputSize, g.outputH, g.outputW)
                if let epilogue { for o in 0..<outputs { epilogue.apply(output + n * outputSize + o * area, channel: o, count: area) } }
            }
        }
    }

    /// Adds the weights' and bias's gradients; each thread sums its images into its own buffer.
    private func directWeightGradient(input: UnsafeMutablePointer<Float>, outputDiff: UnsafeMutablePointer<Float>) {
        let g = geometry, outputs = keys.numOutput, inputSize = g.channels * g.height * g.width, outputSize = outputs * outputArea
        let volume = kernelVolume, chunks = Parallel.chunkCount(for: batch)
        let buffers = context.scratch.buffers(chunks: chunks, counts: directScratchFloats)
        for buffer in buffers { buffer[2].update(repeating: 0, count: 8 * (volume * outputs + outputs)) }
        Parallel.forChunks(of: batch) { chunk, images in
            let (padded, diff, partial) = (buffers[chunk][0], buffers[chunk][1], buffers[chunk][2])
            buffers[chunk][3].withMemoryRebound(to: Int.self, capacity: volume) { offsets in
                for n in images {
                    swiftcaffe_direct_convolution_pad(input + n * inputSize, g.channels, g.height, g.width, g.padH, g.padW, g.kernelW, g.outputW, padded)
                    swiftcaffe_direct_convolution_weight_gradient(padded, g.channels, g.height + 2 * g.padH, outputDiff + n * outputSize, outputs, g.kernelH,
                                                                  g.kernelW, g.outputH, g.outputW, diff, offsets, partial, keys.biasTerm ? partial + 8 * volume * outputs : nil)
                }
            }
        }
        for buffer in buffers {
            buffer[4].update(repeating: 0, count: volume * outputs + outputs)
            swiftcaffe_sum_lanes(buffer[2], volume * outputs + outputs, buffer[4])
        }
        addPartialGradients(buffers.map { $0[4] })
    }

    // MARK: A residual sum folded in

    /// Set by the net's `ResidualFolding` pass for inference: the top is the other summand of a
    /// residual sum (ResNet's shortcut), which forward adds to, then applies the sum's ReLU.
    private(set) var foldsResidualSum = false
    private var residualReLU: ReLUFunction?

    /// Takes over a residual sum `top = other + this layer's output` (then `relu`), with the
    /// top now the other summand's blob. Only when nothing of its own comes after the
    /// convolution: a ReLU folded in would have to run before the sum.
    package func fuseResidualSum(relu: ReLUFunction?) -> Bool {
        guard context.inference, !foldsResidualSum, fusedReLU == nil, fusedClip == nil, fusedNormalization?.channelTransform(0).relu == nil else {
            return false
        }
        (foldsResidualSum, residualReLU) = (true, relu)
        engine = nil
        return true
    }

    // MARK: Layout

    /// Whether the first bottom (top) is laid out N×H×W×C (`ChannelsLastLayout`, inference only).
    private var inputChannelsLast = false, outputChannelsLast = false
    package var channelsLastRule: ChannelsLastRule { .eachEnd }
    package var canUseChannelsLast: Bool { engineAllowed && engineSuitsChannels }
    package func useChannelsLast(bottom: Bool, top: Bool) { (inputChannelsLast, outputChannelsLast) = (bottom, top) }

    // MARK: The engine

    /// oneDNN's convolution for the current shape; nil until the first forward, and when it has
    /// no kernel for the shape (`engineUnavailable`), in which case the im2col path runs.
    private var engine: ConvolutionEngine?
    /// Whether the engine was on when the layer was built (`ConvolutionEngine.isEnabled`).
    private let engineAllowed = ConvolutionEngine.isEnabled
    private var engineUnavailable = false
    /// Whether the engine holds the current weights (an inference net sets them once).
    private var engineHasWeights = false

    public func parametersChanged() { engineHasWeights = false }

    /// Whether the last forward ran in the engine (for tests and `time`'s report).
    package var ranInEngine: Bool { engine != nil }
    /// The kernels oneDNN chose for the last forward, if it ran in the engine.
    package var engineKernel: String? { engine?.kernel }

    private var engineShape: ConvolutionEngine.Shape {
        let g = geometry
        // A ReLU folded in directly, or through the BatchNorm folded in.
        let relu = foldsResidualSum ? residualReLU : fusedReLU ?? fusedNormalization.flatMap { $0.channelTransform(0).relu }
        var shape = ConvolutionEngine.Shape(batch: batch, channels: g.channels, height: g.height, width: g.width, outputs: keys.numOutput,
                                            groups: groups, kernelH: g.kernelH, kernelW: g.kernelW, strideH: g.strideH, strideW: g.strideW,
                                            padH: g.padH, padW: g.padW, dilationH: g.dilationH, dilationW: g.dilationW,
                                            outputH: g.outputH, outputW: g.outputW, training: !context.inference,
                                            reluSlope: relu.map { $0.slope }, threads: Parallel.threads)
        (shape.inputChannelsLast, shape.outputChannelsLast) = (inputChannelsLast, outputChannelsLast)
        shape.accumulates = foldsResidualSum
        shape.winograd = suitsWinograd
        shape.clip = fusedClip.map { $0.low...$0.high }
        return shape
    }

    /// Whether forward runs by Winograd (`ConvolutionEngine.Shape.winograd`): an inference
    /// net's dense 3×3 convolutions at stride 1, of at least 16 channels, over at least 784
    /// output positions a call (a 28×28 plane; over fewer, GoogLeNet's layers ran slower than
    /// direct), whose transformed input and output take at most 16 M floats (64 MB) of scratch
    /// (which keeps a net's peak memory near its direct one). docs/performance.md, "Winograd
    /// for 3×3 convolutions", has the measurements, and the alternative that was tried.
    private let winogradAllowed = ConvolutionEngine.allowsWinograd
    private var suitsWinograd: Bool {
        let g = geometry
        let transformed = 2.25 * Double(batch * (g.channels * g.height * g.width + keys.numOutput * outputArea))
        return winogradAllowed && context.inference && groups == 1 && g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1
            && g.dilationH == 1 && g.dilationW == 1 && g.channels >= 16 && batch * outputArea >= 784 && transformed <= 16 * 1024 * 1024
    }

    /// Whether the engine's kernels suit the channels: per group, inputs and outputs in whole
    /// 8-wide vectors (MobileNetV2's 24 and 144 channels ran 1.15 times faster in the engine
    /// than with a rule of 16, ResNet-50 the same), or an input of a few channels (a first layer over pictures, for which
    /// oneDNN has kernels of its own), or a depthwise convolution over such channels (one in,
    /// one out per group: MobileNet's and EfficientNet's, which im2col runs as one tiny GEMM per
    /// channel). Measured (docs/performance.md, "Convolution engine"): LeNet's 1 → 20 and
    /// 20 → 50 ran 1.3-1.7 times slower in the engine, AlexNet's, GoogLeNet's and ResNet's
    /// layers faster.
    private var engineSuitsChannels: Bool {
        let inputs = geometry.channels / groups, outputs = keys.numOutput / groups
        if isDepthwise { return true }
        return (inputs % 8 == 0 || inputs <= 4) && outputs % 8 == 0
    }

    private var isDepthwise: Bool { geometry.channels == groups && keys.numOutput == groups && groups >= 8 }

    /// Whether the engine pays for reordering what is not channels-last: multiply-adds per value
    /// reordered. GoogLeNet's 1×1 convolutions between concatenations (15-60) ran slower in the
    /// engine, its 3×3 and 5×5 (over 250) faster.
    /// A depthwise convolution always pays: im2col runs it as one GEMM per channel
    /// (MobileNetV2's 144 channels of 56×56 took 3 ms that way, 0.3 ms with both reorders).
    private var engineSuitsWork: Bool {
        if inputChannelsLast || outputChannelsLast || isDepthwise { return true }
        let g = geometry
        let reordered = Double(g.channels * g.height * g.width + keys.numOutput * outputArea)
        return Double(groupVolume * keys.numOutput * outputArea) / reordered >= 100
    }

    /// The engine for the current shape and thread count, holding the current weights.
    private func readyEngine() throws -> ConvolutionEngine? {
        guard engineAllowed, !engineUnavailable, engineSuitsChannels, engineSuitsWork else {
            engine = nil  // a reshape may have taken the layer out of the engine: backward must not find it
            return nil
        }
        let shape = engineShape
        if engine?.shape != shape {
            engine = nil
            engineHasWeights = false
            do {
                engine = try ConvolutionEngine(shape)
            } catch {
                engineUnavailable = true
                return nil
            }
        }
        guard let engine else { return nil }
        // A training net's weights move every iteration; an inference net's only when it says so.
        if !(context.inference && engineHasWeights) {
            try setWeights(of: engine)
            engineHasWeights = true
        }
        return engine
    }

    /// The weights, with a folded BatchNorm multiplied in: ((x ∗ W + b) − mu)·s + shift is
    /// x ∗ (W·s) + (b − mu)·s + shift, with s = inverse·factor per output channel.
    private func setWeights(of engine: ConvolutionEngine) throws {
        let bias = keys.biasTerm ? params[1].data : nil
        guard let normalization = fusedNormalization else {
            try engine.setWeights(params[0].data, bias: bias)
            return
        }
        let perOutput = groupVolume
        var weights = Array(UnsafeBufferPointer(start: params[0].data, count: params[0].count))
        var shifts = [Float](repeating: 0, count: keys.numOutput)
        for o in 0..<keys.numOutput {
            let t = normalization.channelTransform(o)
            let s = t.scales ? t.inverse * t.factor : t.inverse
            for k in 0..<perOutput { weights[o * perOutput + k] *= s }
            shifts[o] = ((bias?[o] ?? 0) - t.mu) * s + (t.scales ? t.shift : 0)
        }
        try engine.setWeights(weights, bias: shifts)
    }

    /// The net's scratch (its `ScratchArena`, which the im2col path uses too), lent to the engine
    /// for one call.
    private func engineScratch(_ engine: ConvolutionEngine) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(context.scratch.buffers(chunks: 1, counts: [max(1, (engine.scratchBytes + 3) / 4)])[0][0])
    }

    /// Backward through the engine that ran forward; false (having added nothing) when it fails.
    private func engineBackward(top: [Blob], bottom: [Blob]) -> Bool {
        guard let engine, engine.shape.training, engine.shape == engineShape else { return false }
        do {
            let scratch = engineScratch(engine)
            if bottom[0].needsGradient { try engine.backwardData(top[0].diff, into: bottom[0].diff, scratch: scratch) }
            try engine.backwardWeights(input: bottom[0].data, outputDiff: top[0].diff, addingInto: params[0].diff,
                                       biasDiff: keys.biasTerm ? params[1].diff : nil, scratch: scratch)
            return true
        } catch {
            return false
        }
    }

    /// A ReLU folded in for inference (the net's `InPlaceFolding` pass), applied as the output is written.
    private var fusedReLU: ReLUFunction?
    /// A BatchNorm folded in for inference (with the Scale and ReLU it folded itself).
    private var fusedNormalization: BatchNormLayer?

    /// Only for inference: backward would need the ReLU's mask.
    package func fuse(_ relu: ReLUFunction, training: Bool) -> Bool {
        guard !training, fusedReLU == nil, fusedClip == nil else { return false }
        fusedReLU = relu
        return true
    }

    /// A Clip folded in for inference (MobileNetV2's ReLU6), applied after everything else.
    private var fusedClip: ClipFunction?

    /// Folds a Clip of its output (inference only: `InPlaceFolding.foldClips`); returns whether it did.
    package func fuse(_ clip: ClipFunction) -> Bool {
        guard context.inference, fusedClip == nil, !foldsResidualSum else { return false }
        fusedClip = clip
        return true
    }

    /// Folds the in-place BatchNorm (global statistics) that follows; returns whether it did.
    package func fuse(_ normalization: BatchNormLayer) -> Bool {
        guard fusedReLU == nil, fusedClip == nil, fusedNormalization == nil, normalization.foldsIntoConvolution else { return false }
        fusedNormalization = normalization
        return true
    }

    /// output (=, or += when `adding`) input ∗ weights + bias, for the whole batch. Forward
    /// runs it once; forward mode twice, since ẏ = ẋ ∗ W + x ∗ Ẇ + ḃ.
    private func convolve(_ input: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?,
                          into output: UnsafeMutablePointer<Float>, adding: Bool, relu: ReLUFunction? = nil,
                          normalization: BatchNormLayer? = nil, clip: ClipFunction? = nil) {
        let g = geometry, area = outputArea, outputs = keys.numOutput
        let inputSize = g.channels * g.height * g.width
        let groups = groups, perGroup = outputs / groups, groupVolume = groupVolume
        let chunks = Parallel.chunkCount(for: batch)
        let buffers = scratch(chunks).map { ($0.0, $0.1) }
        // Images are the work split across threads; with fewer images than threads (a deploy
        // net at batch 1) each GEMM is split over its output channels or columns instead.
        let splitGEMM = chunks == 1 && Parallel.threads > 1
        let epilogue = FoldedEpilogue(relu: relu, normalization: normalization, clip: clip, outputs: outputs)
        forEachBlock { chunk, images in
            let (columns, product) = buffers[chunk]
            let width = images.count * area
            for (slot, n) in images.enumerated() { im2col(input + n * inputSize, g, columns + slot * area, rowStride: width) }
            for g in 0..<groups {
                let a = weights + g * perGroup * groupVolume, b = columns + g * groupVolume * width, c = product + g * perGroup * width
                if splitGEMM {
                    BLAS.parallelGemm(m: perGroup, n: width, k: groupVolume, a: a, b: b, c: c)
                } else {
                    BLAS.gemm(m: perGroup, n: width, k: groupVolume, a: a, b: b, c: c)
                }
            }
            for (slot, n) in images.enumerated() {
                for o in 0..<outputs {
                    let source = product + o * width + slot * area, target = output + (n * outputs + o) * area
                    let b = bias?[o] ?? 0
                    if adding {
                        for i in 0..<area { target[i] += source[i] + b }
                    } else {
                        for i in 0..<area { target[i] = source[i] + b }
                        epilogue?.apply(target, channel: o, count: area)
                    }
                }
            }
        }
    }

    /// ẏ = ẋ ∗ W, plus x ∗ Ẇ + ḃ when the parameters move.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        convolve(bottomTangent[0].data, weights: params[0].data, bias: nil, into: topTangent[0].data, adding: false)
        guard let parameterTangent else { return }
        convolve(bottom[0].data, weights: parameterTangent[0].data, bias: keys.biasTerm ? parameterTangent[1].data : nil,
                 into: topTangent[0].data, adding: true)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        if engineBackward(top: top, bottom: bottom) { return }
        if runsDirect && !bottom[0].needsGradient {
            directWeightGradient(input: bottom[0].data, outputDiff: top[0].diff)
            return
        }
        let g = geometry, area = outputArea, outputs = keys.numOutput
        let input = bottom[0].data, topDiff = top[0].diff, weights = params[0].data
        let groups = groups, perGroup = outputs / groups, groupVolume = groupVolume
        let propagate = bottom[0].needsGradient, inputDiff = propagate ? bottom[0].diff : nil
        let inputSize = g.channels * g.height * g.width
        let chunks = Parallel.chunkCount(for: batch)
        let buffers = scratch(chunks)
        for (_, _, gradients) in buffers.prefix(chunks) { gradients.update(repeating: 0, count: groupVolume * outputs + outputs) }
        forEachBlock { chunk, images in
            let (columns, product, gradients) = buffers[chunk]
            let width = images.count * area
            for (slot, n) in images.enumerated() {
                im2col(input + n * inputSize, g, columns + slot * area, rowStride: width)
                for o in 0..<outputs {
                    let source = topDiff + (n * outputs + o) * area, target = product + o * width + slot * area
                    for i in 0..<area { target[i] = source[i] }
                }
            }
            let biasGradient = gradients + outputs * groupVolume
            for o in 0..<outputs { biasGradient[o] += sum(product + o * width, count: width) }
            // The gradient's transpose, (C·kh·kw) × O = columns · productᵀ: OpenBLAS runs this
            // shape faster than O × (C·kh·kw) = product · columnsᵀ (LeNet's conv2).
            // Per group, the transposed gradient (C·kh·kw/g) × (O/g), kept in a (C·kh·kw/g) × O
            // matrix: OpenBLAS runs this shape faster than O × (C·kh·kw) (LeNet's conv2).
            for g in 0..<groups {
                BLAS.gemm(transposeB: true, m: groupVolume, n: perGroup, k: width, a: columns + g * groupVolume * width, lda: width,
                          b: product + g * perGroup * width, ldb: width, beta: 1, c: gradients + g * perGroup, ldc: outputs)
            }
            guard let inputDiff else { return }
            // The block's columns are no longer needed: their buffer takes their gradient.
            for g in 0..<groups {
                BLAS.gemm(transposeA: true, m: groupVolume, n: width, k: perGroup, a: weights + g * perGroup * groupVolume, lda: groupVolume,
                          b: product + g * perGroup * width, ldb: width, c: columns + g * groupVolume * width, ldc: width)
            }
            for (slot, n) in images.enumerated() { col2im(columns + slot * area, g, inputDiff + n * inputSize, rowStride: width) }
        }
        addPartialGradients(buffers.prefix(chunks).map { $0.2 })
    }

    /// Adds each thread's gradients, the weights' transposed ((C·kh·kw/g) × O) then the bias's.
    private func addPartialGradients(_ partials: [UnsafeMutablePointer<Float>]) {
        let outputs = keys.numOutput, groupVolume = groupVolume
        let weightDiff = params[0].diff, biasDiff = keys.biasTerm ? params[1].diff : nil
        for partial in partials {
            for o in 0..<outputs {
                let row = weightDiff + o * groupVolume
                for k in 0..<groupVolume { row[k] += partial[k * outputs + o] }
            }
            if let biasDiff { for o in 0..<outputs { biasDiff[o] += partial[outputs * groupVolume + o] } }
        }
    }
}

/// What inference folds into a convolution's output (`InPlaceFolding`), applied to each output
/// channel in place after the bias: the BatchNorm (with its Scale and ReLU), else the ReLU,
/// then the Clip; the very operations of the layers it stands for, so folding keeps the bits.
struct FoldedEpilogue {
    let relu: ReLUFunction?
    let clip: ClipFunction?
    /// Per channel, once per call: reading the BatchNorm's parameters per image and channel
    /// cost an exclusivity check each (the net, another module, may replace them).
    let transforms: [(mu: Float, inverse: Float, factor: Float, shift: Float, scales: Bool, relu: ReLUFunction?)]?

    /// Nil when nothing is folded.
    init?(relu: ReLUFunction?, normalization: BatchNormLayer?, clip: ClipFunction?, outputs: Int) {
        guard relu != nil || normalization != nil || clip != nil else { return nil }
        (self.relu, self.clip) = (relu, clip)
        transforms = normalization.map { normalization in (0..<outputs).map(normalization.channelTransform) }
    }

    func apply(_ values: UnsafeMutablePointer<Float>, channel: Int, count: Int) {
        if let transforms {
            let t = transforms[channel]
            for i in 0..<count {
                var value = (values[i] - t.mu) * t.inverse
                if t.scales { value = value * t.factor + t.shift }
                values[i] = t.relu?.value(value) ?? value
            }
        } else if let relu {
            for i in 0..<count { values[i] = relu.value(values[i]) }
        }
        if let clip { for i in 0..<count { values[i] = clip.value(values[i]) } }
    }
}

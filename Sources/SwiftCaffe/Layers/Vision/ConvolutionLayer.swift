/// 2-D convolution over N×C×H×W bottoms by im2col + GEMM, as Caffe does.
///
/// Like Caffe's (and every framework's) "convolution" it computes a cross-correlation: the
/// kernel is not flipped. Weights are num_output × C × kernel_h × kernel_w, bias num_output.
///
/// Unlike Caffe, which runs one small GEMM per image, the batch is unrolled side by side into
/// one (C·kh·kw) × (N·outH·outW) matrix and each thread runs one GEMM over its share of the
/// images (a block of columns), which is far closer to OpenBLAS's peak. The price is a reorder
/// between the GEMM's O × N·HW layout and the blobs' N × O × HW, and memory for the batch's
/// columns, which are kept from forward to backward (and then reused for their own gradient)
/// instead of being unrolled twice. Each thread sums its weight gradient into its own buffer.
public final class ConvolutionLayer: Layer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let numOutput: Int
    let window: WindowKeys
    let biasTerm: Bool
    let weightFiller: FillerSpec
    let biasFiller: FillerSpec
    let context: LayerContext
    private var geometry = WindowGeometry(channels: 0, height: 0, width: 0, kernelH: 0, kernelW: 0)
    /// The batch's columns, (C·kh·kw) × (N·outH·outW); in backward, their gradient.
    private var columns = Blob()
    /// The output (forward) or its gradient (backward) in GEMM layout, O × (N·outH·outW).
    private var product = Blob()
    private var batch = 0
    /// Per-thread partial weight and bias gradients.
    private var partialGradients: [Blob] = []

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        numOutput = try spec.int("num_output", in: 1...Int(Int32.max))
        window = try WindowKeys(spec, kernelRequired: true)
        biasTerm = try spec.bool("bias_term", default: true)
        weightFiller = try spec.filler("weight_filler", default: .zero)
        biasFiller = try spec.filler("bias_filler", default: .zero)
    }

    private var kernelVolume: Int { geometry.channels * geometry.kernelH * geometry.kernelW }
    private var outputArea: Int { geometry.outputH * geometry.outputW }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let input = bottom[0]
        guard input.shape.count == 4 else {
            throw error("expects an N×C×H×W bottom, but '\(input.name)' is \(input.shapeDescription)",
                        hint: "put a Reshape before it, or use InnerProduct for flat inputs")
        }
        batch = input.shape[0]
        geometry = window.geometry(channels: input.shape[1], height: input.shape[2], width: input.shape[3])
        guard geometry.height + 2 * geometry.padH >= geometry.kernelH, geometry.width + 2 * geometry.padW >= geometry.kernelW else {
            throw error("the \(geometry.kernelH)×\(geometry.kernelW) kernel is larger than the padded \(geometry.height)×\(geometry.width) input '\(input.name)'",
                        hint: "use a smaller kernel_size or more pad")
        }
        let weight = Blob(name: "\(name).weight", shape: [numOutput, geometry.channels, geometry.kernelH, geometry.kernelW])
        var rng = context.rng("\(name)/weights")
        weightFiller.fill(weight, using: &rng)
        params = [weight]
        if biasTerm {
            let bias = Blob(name: "\(name).bias", shape: [numOutput])
            var biasRNG = context.rng("\(name)/bias")
            biasFiller.fill(bias, using: &biasRNG)
            params.append(bias)
        }
        top[0].reshape([batch, numOutput, geometry.outputH, geometry.outputW])
        columns = Blob(shape: [kernelVolume, batch * outputArea])
        product = Blob(shape: [numOutput, batch * outputArea])
    }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        let g = geometry, area = outputArea, outputs = numOutput, width = batch * area, volume = kernelVolume
        let input = bottom[0].data, output = top[0].data, columns = columns.data, product = product.data
        let weights = params[0].data, bias = biasTerm ? params[1].data : nil
        let inputSize = g.channels * g.height * g.width
        Parallel.forChunks(of: batch) { _, images in
            for n in images { im2col(input + n * inputSize, g, columns + n * area, rowStride: width) }
            let first = images.lowerBound * area
            BLAS.gemm(m: outputs, n: images.count * area, k: volume, a: weights, lda: volume,
                      b: columns + first, ldb: width, c: product + first, ldc: width)
            for n in images {
                for o in 0..<outputs {
                    let source = product + o * width + n * area, target = output + (n * outputs + o) * area
                    let b = bias?[o] ?? 0
                    for i in 0..<area { target[i] = source[i] + b }
                }
            }
        }
        return 0
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let g = geometry, area = outputArea, outputs = numOutput, width = batch * area, volume = kernelVolume
        let topDiff = top[0].diff, columns = columns.data, product = product.data, weights = params[0].data
        let propagate = bottom[0].needsGradient, inputDiff = bottom[0].diff
        let inputSize = g.channels * g.height * g.width
        let chunks = Parallel.chunkCount(for: batch)
        while partialGradients.count < chunks { partialGradients.append(Blob(shape: [outputs * volume + outputs])) }
        let partials = partialGradients.map(\.data)
        Parallel.forChunks(of: batch) { chunk, images in
            let first = images.lowerBound * area, span = images.count * area
            for n in images {
                for o in 0..<outputs {
                    let source = topDiff + (n * outputs + o) * area, target = product + o * width + n * area
                    for i in 0..<area { target[i] = source[i] }
                }
            }
            let weightGradient = partials[chunk], biasGradient = weightGradient + outputs * volume
            for o in 0..<outputs {
                let row = product + o * width + first
                var sum: Float = 0
                for i in 0..<span { sum += row[i] }
                biasGradient[o] = sum
            }
            // The gradient's transpose, (C·kh·kw) × O = columns · productᵀ: OpenBLAS runs this
            // shape about 1.4× faster than O × (C·kh·kw) = product · columnsᵀ (LeNet's conv2).
            BLAS.gemm(transposeB: true, m: volume, n: outputs, k: span, a: columns + first, lda: width,
                      b: product + first, ldb: width, c: weightGradient, ldc: outputs)
            guard propagate else { return }
            // This chunk's columns are no longer needed: their buffer takes their gradient.
            BLAS.gemm(transposeA: true, m: volume, n: span, k: outputs, a: weights, lda: volume,
                      b: product + first, ldb: width, c: columns + first, ldc: width)
            for n in images { col2im(columns + n * area, g, inputDiff + n * inputSize, rowStride: width) }
        }
        let weightDiff = params[0].diff, biasDiff = biasTerm ? params[1].diff : nil
        for partial in partials.prefix(chunks) {
            for o in 0..<outputs {
                let row = weightDiff + o * volume
                for k in 0..<volume { row[k] += partial[k * outputs + o] }
            }
            if let biasDiff { for o in 0..<outputs { biasDiff[o] += partial[outputs * volume + o] } }
        }
    }
}

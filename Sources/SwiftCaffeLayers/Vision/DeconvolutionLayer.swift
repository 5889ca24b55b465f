import SwiftCaffeCore
import SwiftCaffeSpec

/// The transpose of Convolution (Caffe's `Deconvolution`, also called a fractionally strided
/// or transposed convolution): each input value spreads a kernel-sized patch into a larger
/// output, H_out = stride·(H − 1) + dilation·(kernel − 1) + 1 − 2·pad. Convolution's keys.
/// Weights are C_in × (num_output / group) × kh × kw, as in Caffe; with `group` g each g-th of
/// the input channels spreads into its own g-th of the outputs (FCN's bilinear upsampling is
/// one group per channel with the `bilinear` filler).
///
/// Forward is Convolution's backward pass for its input: columns = Wᵀ·x, then col2im into
/// the output; backward is im2col of the output gradient and two GEMMs. One image at a time
/// per thread, with per-thread scratch.
public final class DeconvolutionLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let keys: ConvolutionKeys
    let context: LayerContext
    let groups: Int
    /// The geometry of the output image, which the kernel slides over.
    private var geometry = WindowGeometry(channels: 0, height: 0, width: 0, kernelH: 0, kernelW: 0)
    private var batch = 0, inputChannels = 0, inputArea = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        keys = try ConvolutionKeys(spec, dilated: true)
        groups = try spec.int("group", default: 1, in: 1...Int(Int32.max))
        if keys.numOutput % groups != 0 {
            throw spec.error("num_output \(keys.numOutput) is not a multiple of group \(groups)", at: spec.node("group"))
        }
    }

    private var volume: Int { keys.numOutput * geometry.kernelH * geometry.kernelW }
    public var forwardFLOPs: Int { batch * 2 * inputChannels * (volume / groups) * inputArea }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0]
        guard x.shape.count == 4 else { throw error("expects an N×C×H×W bottom, but '\(x.name)' is \(x.shapeDescription)") }
        batch = x.shape[0]
        inputChannels = x.shape[1]
        guard inputChannels % groups == 0 else {
            throw error("\(inputChannels) input channels are not a multiple of group \(groups)", hint: "use a group that divides the channels")
        }
        inputArea = x.shape[2] * x.shape[3]
        let probe = keys.window.geometry(channels: keys.numOutput, height: 0, width: 0)
        // In Double: stride, size and dilated kernel are each up to 2³¹, their sum can pass 2⁶³.
        func outputSize(_ input: Int, stride: Int, extent: Int, pad: Int) -> Double {
            Double(stride) * Double(input - 1) + Double(extent) - 2 * Double(pad)
        }
        let heightValue = outputSize(x.shape[2], stride: keys.window.strideH, extent: probe.extentH, pad: keys.window.padH)
        let widthValue = outputSize(x.shape[3], stride: keys.window.strideW, extent: probe.extentW, pad: keys.window.padW)
        guard heightValue > 0, widthValue > 0 else { throw error("the padding leaves no output (\(heightValue)×\(widthValue))", hint: "use a smaller pad") }
        guard let height = Int(whole: heightValue, in: 1...Int(Int32.max)), let width = Int(whole: widthValue, in: 1...Int(Int32.max)) else {
            throw error("the output would be \(heightValue)×\(widthValue), too large", hint: "use a smaller stride, kernel or dilation")
        }
        geometry = keys.window.geometry(channels: keys.numOutput, height: height, width: width)
        guard geometry.outputH == x.shape[2], geometry.outputW == x.shape[3] else {
            throw error("stride, kernel and pad do not map the \(x.shape[2])×\(x.shape[3]) input onto a whole output")
        }
        params = try keys.parameters(of: name, context: context, weightShape: [inputChannels, keys.numOutput / groups, geometry.kernelH, geometry.kernelW], biasShape: [keys.numOutput])
        try top[0].reshape([batch, keys.numOutput, height, width])
        let perThread = Double(volume) * Double(inputArea) + Double(inputChannels) * Double(volume) + Double(keys.numOutput)
        try MemoryBudget.require(floats: Double(Parallel.chunkCount(for: batch)) * perThread, for: "its per-thread scratch")
        guard checkedCount([volume, inputArea]) != nil else { throw error("its scratch of \(volume)×\(inputArea) values is too large", hint: "use a smaller kernel or input") }
    }

    /// Each thread's columns and partial gradients, from the net's `ScratchArena`.
    private func scratch(_ chunks: Int) -> [(columns: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>)] {
        context.scratch.buffers(chunks: chunks, counts: [volume * inputArea, inputChannels * volume + keys.numOutput]).map { ($0[0], $0[1]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        deconvolve(bottom[0].data, weights: params[0].data, bias: keys.biasTerm ? params[1].data : nil, into: top[0].data)
    }

    /// output = the transposed convolution of input with weights, plus bias.
    private func deconvolve(_ input: UnsafeMutablePointer<Float>, weights w: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?,
                            into output: UnsafeMutablePointer<Float>) {
        let g = geometry, area = g.height * g.width, outSize = keys.numOutput * area, inSize = inputChannels * inputArea
        let volume = volume / groups, channels = inputChannels / groups, inputArea = inputArea, outputs = keys.numOutput, groups = groups
        let buffers = scratch(Parallel.chunkCount(for: batch)).map(\.columns)
        Parallel.forChunks(of: batch) { chunk, images in
            let columns = buffers[chunk]
            for n in images {
                // Per group: its columns (volume/g × HW) = its weights (C_in/g × volume/g)ᵀ · its input channels.
                for group in 0..<groups {
                    BLAS.gemm(transposeA: true, m: volume, n: inputArea, k: channels, a: w + group * channels * volume,
                              b: input + n * inSize + group * channels * inputArea, c: columns + group * volume * inputArea)
                }
                let y = output + n * outSize
                col2im(columns, g, y)
                if let bias { for o in 0..<outputs { for i in 0..<area { y[o * area + i] += bias[o] } } }
            }
        }
    }

    /// Linear in the input and in the parameters: ẏ = deconv(ẋ; W) + deconv(x; Ẇ) + ḃ.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        deconvolve(bottomTangent[0].data, weights: params[0].data, bias: nil, into: topTangent[0].data)
        guard let parameterTangent else { return }
        let part = Blob(shape: top[0].shape)
        deconvolve(bottom[0].data, weights: parameterTangent[0].data, bias: keys.biasTerm ? parameterTangent[1].data : nil, into: part.data)
        let dy = topTangent[0].data, extra = part.data
        for i in 0..<top[0].count { dy[i] += extra[i] }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let g = geometry, area = g.height * g.width, outSize = keys.numOutput * area, inSize = inputChannels * inputArea
        let w = params[0].data, volume = volume / groups, channels = inputChannels / groups, inputArea = inputArea
        let outputs = keys.numOutput, groups = groups, weightCount = inputChannels * volume
        let propagate = bottom[0].needsGradient, dx = propagate ? bottom[0].diff : nil
        let chunks = Parallel.chunkCount(for: batch)
        let buffers = scratch(chunks)
        for (_, gradients) in buffers.prefix(chunks) { gradients.update(repeating: 0, count: weightCount + outputs) }
        Parallel.forChunks(of: batch) { chunk, images in
            let (columns, gradients) = buffers[chunk]
            for n in images {
                let dy = top[0].diff + n * outSize
                im2col(dy, g, columns)
                for group in 0..<groups {
                    let x = bottom[0].data + n * inSize + group * channels * inputArea, groupColumns = columns + group * volume * inputArea
                    // dW_g (C_in/g × volume/g) += x_g (C_in/g × HW) · columns_gᵀ.
                    BLAS.gemm(transposeB: true, m: channels, n: volume, k: inputArea, a: x, b: groupColumns, beta: 1,
                              c: gradients + group * channels * volume)
                    if let dx {
                        BLAS.gemm(m: channels, n: inputArea, k: volume, a: w + group * channels * volume, b: groupColumns,
                                  c: dx + n * inSize + group * channels * inputArea)
                    }
                }
                for o in 0..<outputs { gradients[weightCount + o] += sum(dy + o * area, count: area) }
            }
        }
        let dw = params[0].diff, db = keys.biasTerm ? params[1].diff : nil
        for (_, partial) in buffers.prefix(chunks) {
            for i in 0..<weightCount { dw[i] += partial[i] }
            if let db { for o in 0..<outputs { db[o] += partial[weightCount + o] } }
        }
    }
}

/// 2-D convolution over N×C×H×W bottoms by im2col + GEMM, as Caffe does.
///
/// Like Caffe's (and every framework's) "convolution" it computes a cross-correlation: the
/// kernel is not flipped. Weights are num_output × C × kernel_h × kernel_w, bias num_output.
/// The unrolled columns of the whole batch are kept from forward to backward, trading memory
/// (N·C·kh·kw·outH·outW floats) for not running im2col twice.
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
    private var columns = Blob()
    private var columnDiff = Blob()
    private var batch = 0

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
        columns = Blob(shape: [batch, kernelVolume, outputArea])
        columnDiff = Blob(shape: [kernelVolume, outputArea])
    }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        let inputSize = geometry.channels * geometry.height * geometry.width
        let outputSize = numOutput * outputArea
        let columnSize = kernelVolume * outputArea
        for n in 0..<batch {
            let column = columns.data + n * columnSize
            im2col(bottom[0].data + n * inputSize, geometry, column)
            let output = top[0].data + n * outputSize
            if biasTerm {
                let bias = params[1].data
                for o in 0..<numOutput { (output + o * outputArea).update(repeating: bias[o], count: outputArea) }
            }
            BLAS.gemm(m: numOutput, n: outputArea, k: kernelVolume, a: params[0].data, b: column,
                      beta: biasTerm ? 1 : 0, c: output)
        }
        return 0
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let inputSize = geometry.channels * geometry.height * geometry.width
        let outputSize = numOutput * outputArea
        let columnSize = kernelVolume * outputArea
        for n in 0..<batch {
            let topDiff = top[0].diff + n * outputSize
            if biasTerm {
                let biasDiff = params[1].diff
                for o in 0..<numOutput {
                    let row = topDiff + o * outputArea
                    var sum: Float = 0
                    for i in 0..<outputArea { sum += row[i] }
                    biasDiff[o] += sum
                }
            }
            BLAS.gemm(transposeB: true, m: numOutput, n: kernelVolume, k: outputArea, a: topDiff,
                      b: columns.data + n * columnSize, beta: 1, c: params[0].diff)
            if bottom[0].needsGradient {
                BLAS.gemm(transposeA: true, m: kernelVolume, n: outputArea, k: numOutput, a: params[0].data, b: topDiff,
                          c: columnDiff.data)
                col2im(columnDiff.data, geometry, bottom[0].diff + n * inputSize)
            }
        }
    }
}

import SwiftCaffeCore
import SwiftCaffeSpec

/// Like Convolution, but with a separate (untied) filter at every output position: the layer
/// between a fully connected one and a convolution, which neither Caffe nor PyTorch ships.
/// Convolution's keys except `group` and `dilation`. Weights are
/// (outH·outW·num_output) × (C·kh·kw), rows ordered by position then output (so the fillers'
/// fan-in is C·kh·kw, as for a convolution); the bias, with `bias_term`, is num_output × outH·outW.
///
/// For each position p, the batch's patches at p form a (C·kh·kw) × N matrix and one GEMM with
/// that position's filters gives all outputs there.
public final class LocallyConnectedLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let keys: ConvolutionKeys
    let context: LayerContext
    private var geometry = WindowGeometry(channels: 0, height: 0, width: 0, kernelH: 0, kernelW: 0)
    private var batch = 0
    /// The batch's columns: N × (C·kh·kw) × positions.
    private var columns = Blob()
    /// One position's patches (C·kh·kw × N) and outputs (O × N).
    private var patches = Blob(), outputs = Blob()

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        keys = try ConvolutionKeys(spec, dilated: false)
    }

    private var volume: Int { geometry.channels * geometry.kernelH * geometry.kernelW }
    private var positions: Int { geometry.outputH * geometry.outputW }
    public var forwardFLOPs: Int { batch * positions * keys.numOutput * 2 * volume }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0]
        guard x.shape.count == 4 else { throw error("expects an N×C×H×W bottom, but '\(x.name)' is \(x.shapeDescription)") }
        batch = x.shape[0]
        geometry = keys.window.geometry(channels: x.shape[1], height: x.shape[2], width: x.shape[3])
        guard geometry.outputH > 0, geometry.outputW > 0 else { throw error("the kernel does not fit the padded \(x.shape[2])×\(x.shape[3]) input") }
        params = try keys.parameters(of: name, context: context, weightShape: [positions * keys.numOutput, volume], biasShape: [keys.numOutput, positions])
        try columns.reshape([batch, volume, positions])
        try patches.reshape([volume, batch])
        try outputs.reshape([keys.numOutput, batch])
        try top[0].reshape([batch, keys.numOutput, geometry.outputH, geometry.outputW])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        connect(bottom[0].data, weights: params[0].data, bias: keys.biasTerm ? params[1].data : nil, columns: columns.data, into: top[0].data)
    }

    /// output = each position's filters applied to the input's patches there, plus bias; the
    /// patches are unrolled into `columns` (backward reuses forward's).
    private func connect(_ input: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?,
                         columns cols: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        let g = geometry, volume = volume, positions = positions, outputs = keys.numOutput, outputsPerImage = outputs * positions
        let inSize = geometry.channels * geometry.height * geometry.width, patch = patches.data, out = self.outputs.data
        for n in 0..<batch { im2col(input + n * inSize, g, cols + n * volume * positions) }
        for p in 0..<positions {
            for k in 0..<volume { for n in 0..<batch { patch[k * batch + n] = cols[(n * volume + k) * positions + p] } }
            BLAS.gemm(m: outputs, n: batch, k: volume, a: weights + p * outputs * volume, b: patch, c: out)
            for o in 0..<outputs {
                let b = bias?[o * positions + p] ?? 0
                for n in 0..<batch { output[n * outputsPerImage + o * positions + p] = out[o * batch + n] + b }
            }
        }
    }

    /// ẏ = lc(ẋ; W) + lc(x; Ẇ) + ḃ, unrolled into scratch of its own so that forward's
    /// columns stay for backward.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let scratch = Blob(shape: columns.shape)
        connect(bottomTangent[0].data, weights: params[0].data, bias: nil, columns: scratch.data, into: topTangent[0].data)
        guard let parameterTangent else { return }
        let part = Blob(shape: top[0].shape)
        connect(bottom[0].data, weights: parameterTangent[0].data, bias: keys.biasTerm ? parameterTangent[1].data : nil,
                columns: scratch.data, into: part.data)
        let dy = topTangent[0].data, extra = part.data
        for i in 0..<top[0].count { dy[i] += extra[i] }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let g = geometry, volume = volume, positions = positions, outputsPerImage = keys.numOutput * positions
        let cols = columns.data, patch = patches.data, out = outputs.data, dy = top[0].diff
        let propagate = bottom[0].needsGradient
        for p in 0..<positions {
            for o in 0..<keys.numOutput { for n in 0..<batch { out[o * batch + n] = dy[n * outputsPerImage + o * positions + p] } }
            if keys.biasTerm { for o in 0..<keys.numOutput { params[1].diff[o * positions + p] += sum(out + o * batch, count: batch) } }
            for k in 0..<volume { for n in 0..<batch { patch[k * batch + n] = cols[(n * volume + k) * positions + p] } }
            BLAS.gemm(transposeB: true, m: keys.numOutput, n: volume, k: batch, a: out, b: patch, beta: 1, c: params[0].diff + p * keys.numOutput * volume)
            guard propagate else { continue }
            // The patches' gradient, written back over this position's columns (read above).
            BLAS.gemm(transposeA: true, m: volume, n: batch, k: keys.numOutput, a: params[0].data + p * keys.numOutput * volume, b: out, c: patch)
            for k in 0..<volume { for n in 0..<batch { cols[(n * volume + k) * positions + p] = patch[k * batch + n] } }
        }
        guard propagate else { return }
        let inSize = bottom[0].count / batch
        for n in 0..<batch { col2im(cols + n * volume * positions, g, bottom[0].diff + n * inSize) }
    }
}

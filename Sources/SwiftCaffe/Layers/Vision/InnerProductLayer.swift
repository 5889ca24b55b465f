/// A fully connected layer: top = bottom · Wᵀ + b, with the bottom flattened from `axis` on
/// (Caffe's `InnerProduct`). W is num_output × K, b is num_output.
public final class InnerProductLayer: Layer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let numOutput: Int
    let biasTerm: Bool
    let axis: Int
    let weightFiller: FillerSpec
    let biasFiller: FillerSpec
    let context: LayerContext
    private var rows = 0, inputs = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        numOutput = try spec.int("num_output", in: 1...Int(Int32.max))
        biasTerm = try spec.bool("bias_term", default: true)
        axis = try spec.int("axis", default: 1, in: 0...7)
        weightFiller = try spec.filler("weight_filler", default: .zero)
        biasFiller = try spec.filler("bias_filler", default: .zero)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let input = bottom[0]
        guard axis < input.shape.count else {
            throw error("'axis' is \(axis) but the bottom '\(input.name)' has only \(input.shape.count) axes (\(input.shapeDescription))")
        }
        rows = input.count(from: 0, to: axis)
        inputs = input.count(from: axis)
        let weight = Blob(name: "\(name).weight", shape: [numOutput, inputs])
        var rng = context.rng("\(name)/weights")
        weightFiller.fill(weight, using: &rng)
        params = [weight]
        if biasTerm {
            let bias = Blob(name: "\(name).bias", shape: [numOutput])
            var biasRNG = context.rng("\(name)/bias")
            biasFiller.fill(bias, using: &biasRNG)
            params.append(bias)
        }
        top[0].reshape(Array(input.shape[..<axis]) + [numOutput])
    }

    /// Rows of the batch (forward, bottom gradient) and rows of the weight gradient are split
    /// across threads; no thread writes where another does.
    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        let outputs = numOutput, inputs = inputs, input = bottom[0].data, output = top[0].data
        let weights = params[0].data, bias = biasTerm ? params[1].data : nil
        Parallel.forChunks(of: rows, minimumPerChunk: 8) { _, rows in
            if let bias {
                for r in rows { (output + r * outputs).update(from: bias, count: outputs) }
            }
            BLAS.gemm(transposeB: true, m: rows.count, n: outputs, k: inputs, a: input + rows.lowerBound * inputs, lda: inputs,
                      b: weights, ldb: inputs, beta: bias == nil ? 0 : 1, c: output + rows.lowerBound * outputs, ldc: outputs)
        }
        return 0
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let outputs = numOutput, inputs = inputs, batchRows = rows
        let topDiff = top[0].diff, input = bottom[0].data, weights = params[0].data
        let weightDiff = params[0].diff, biasDiff = biasTerm ? params[1].diff : nil
        Parallel.forChunks(of: outputs, minimumPerChunk: 8) { _, units in
            BLAS.gemm(transposeA: true, m: units.count, n: inputs, k: batchRows, a: topDiff + units.lowerBound, lda: outputs,
                      b: input, ldb: inputs, beta: 1, c: weightDiff + units.lowerBound * inputs, ldc: inputs)
            if let biasDiff {
                for r in 0..<batchRows {
                    let row = topDiff + r * outputs
                    for o in units { biasDiff[o] += row[o] }
                }
            }
        }
        guard bottom[0].needsGradient else { return }
        let inputDiff = bottom[0].diff
        Parallel.forChunks(of: batchRows, minimumPerChunk: 8) { _, rows in
            BLAS.gemm(m: rows.count, n: inputs, k: outputs, a: topDiff + rows.lowerBound * outputs, lda: outputs,
                      b: weights, ldb: inputs, c: inputDiff + rows.lowerBound * inputs, ldc: inputs)
        }
    }
}

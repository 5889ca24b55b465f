import SwiftCaffeCore
import SwiftCaffeSpec

/// A fully connected layer: top = bottom · Wᵀ + b, with the bottom flattened from `axis` on
/// (Caffe's `InnerProduct`). W is num_output × K, b is num_output; with `transpose: true` W
/// is stored K × num_output and top = bottom · W (Caffe's option, for tied autoencoder weights).
public final class InnerProductLayer: Layer, TangentLayer, ReLUFusing {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let numOutput: Int
    let biasTerm: Bool
    let axis: Int
    let transpose: Bool
    let weightFiller: FillerSpec
    let biasFiller: FillerSpec
    let context: LayerContext
    private var rows = 0, inputs = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        numOutput = try spec.int("num_output", in: 1...(1 << 20))
        biasTerm = try spec.bool("bias_term", default: true)
        axis = try spec.int("axis", default: 1, in: 0...7)
        transpose = try spec.bool("transpose", default: false)
        weightFiller = try spec.filler("weight_filler", default: .zero)
        biasFiller = try spec.filler("bias_filler", default: .zero)
    }

    public var forwardFLOPs: Int { rows * numOutput * (2 * inputs + (biasTerm ? 1 : 0)) }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let input = bottom[0]
        guard axis < input.shape.count else {
            throw error("'axis' is \(axis) but the bottom '\(input.name)' has only \(input.shape.count) axes (\(input.shapeDescription))")
        }
        rows = input.count(from: 0, to: axis)
        inputs = input.count(from: axis)
        params = [try context.parameter(name, "weights", shape: transpose ? [inputs, numOutput] : [numOutput, inputs], filler: weightFiller)]
        if biasTerm { params.append(try context.parameter(name, "bias", shape: [numOutput], filler: biasFiller)) }
        try top[0].reshape(Array(input.shape[..<axis]) + [numOutput])
    }

    /// Each thread computes a block of columns of every product: of the top in forward, of the
    /// weight gradient's rows and of the bottom gradient in backward. A batch has few rows
    /// (64) and a layer many outputs, and OpenBLAS measured faster on the full-height blocks
    /// than on half-height ones (docs/performance.md, "Threads"). No two threads
    /// write the same element, so nothing needs summing afterwards.
    public func forward(bottom: [Blob], top: [Blob]) {
        let outputs = numOutput, inputs = inputs, rows = rows, input = bottom[0].data, output = top[0].data
        let weights = params[0].data, bias = biasTerm ? params[1].data : nil, relu = fusedReLU
        Parallel.forChunks(of: outputs, minimumPerChunk: 16) { _, units in
            defer {
                if let relu {  // on the block this thread just wrote, while it is in cache
                    for r in 0..<rows {
                        let row = output + r &* outputs
                        for o in units { row[o] = relu.value(row[o]) }
                    }
                }
            }
            if let bias {
                for r in 0..<rows { (output + r * outputs + units.lowerBound).update(from: bias + units.lowerBound, count: units.count) }
            }
            if transpose {
                BLAS.gemm(m: rows, n: units.count, k: inputs, a: input, lda: inputs, b: weights + units.lowerBound, ldb: outputs,
                          beta: bias == nil ? 0 : 1, c: output + units.lowerBound, ldc: outputs)
                return
            }
            if rows == 1 {
                // One sample (deploy nets): a matrix-vector product, much faster than a GEMM of one row.
                BLAS.gemv(m: units.count, n: inputs, a: weights + units.lowerBound * inputs, lda: inputs, x: input,
                          beta: bias == nil ? 0 : 1, y: output + units.lowerBound)
                return
            }
            BLAS.gemm(transposeB: true, m: rows, n: units.count, k: inputs, a: input, lda: inputs,
                      b: weights + units.lowerBound * inputs, ldb: inputs, beta: bias == nil ? 0 : 1,
                      c: output + units.lowerBound, ldc: outputs)
        }
    }

    /// A ReLU folded in for inference (the net's `InPlaceFolding` pass), applied to each thread's block
    /// of the top after its product.
    private var fusedReLU: ReLUFunction?

    /// Only for inference: backward would need the ReLU's mask.
    package func fuse(_ relu: ReLUFunction, training: Bool) -> Bool {
        guard !training, fusedReLU == nil else { return false }
        fusedReLU = relu
        return true
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let outputs = numOutput, inputs = inputs, batchRows = rows
        let topDiff = top[0].diff, input = bottom[0].data, weights = params[0].data
        let weightDiff = params[0].diff, biasDiff = biasTerm ? params[1].diff : nil
        let transpose = transpose
        Parallel.forChunks(of: outputs, minimumPerChunk: 16) { _, units in
            if transpose {
                // dW (K × N) columns `units` += xᵀ · dy[:, units].
                BLAS.gemm(transposeA: true, m: inputs, n: units.count, k: batchRows, a: input, lda: inputs,
                          b: topDiff + units.lowerBound, ldb: outputs, beta: 1, c: weightDiff + units.lowerBound, ldc: outputs)
            } else {
                BLAS.gemm(transposeA: true, m: units.count, n: inputs, k: batchRows, a: topDiff + units.lowerBound, lda: outputs,
                          b: input, ldb: inputs, beta: 1, c: weightDiff + units.lowerBound * inputs, ldc: inputs)
            }
            if let biasDiff {
                for r in 0..<batchRows {
                    let row = topDiff + r * outputs
                    for o in units { biasDiff[o] += row[o] }
                }
            }
        }
        guard bottom[0].needsGradient else { return }
        let inputDiff = bottom[0].diff
        Parallel.forChunks(of: inputs, minimumPerChunk: 16) { _, columns in
            if transpose {
                // dx[:, columns] = dy · W[columns, :]ᵀ.
                BLAS.gemm(transposeB: true, m: batchRows, n: columns.count, k: outputs, a: topDiff, lda: outputs,
                          b: weights + columns.lowerBound * outputs, ldb: outputs, c: inputDiff + columns.lowerBound, ldc: inputs)
                return
            }
            BLAS.gemm(m: batchRows, n: columns.count, k: outputs, a: topDiff, lda: outputs,
                      b: weights + columns.lowerBound, ldb: inputs, c: inputDiff + columns.lowerBound, ldc: inputs)
        }
    }

    /// ẏ = ẋ·Wᵀ, plus x·Ẇᵀ + ḃ when the parameters move.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let outputs = numOutput, inputs = inputs, rows = rows
        let input = bottom[0].data, inputTangent = bottomTangent[0].data, output = topTangent[0].data, weights = params[0].data
        let ldb = transpose ? outputs : inputs
        BLAS.gemm(transposeB: !transpose, m: rows, n: outputs, k: inputs, a: inputTangent, lda: inputs, b: weights, ldb: ldb, c: output, ldc: outputs)
        guard let parameterTangent else { return }
        BLAS.gemm(transposeB: !transpose, m: rows, n: outputs, k: inputs, a: input, lda: inputs, b: parameterTangent[0].data, ldb: ldb,
                  beta: 1, c: output, ldc: outputs)
        if biasTerm {
            let bias = parameterTangent[1].data
            for r in 0..<rows { for o in 0..<outputs { output[r * outputs + o] += bias[o] } }
        }
    }
}

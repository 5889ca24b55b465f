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
    private var ones = Blob()

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
        ones = Blob(shape: [rows])
        ones.data.update(repeating: 1, count: rows)
    }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        let output = top[0].data
        if biasTerm {
            let bias = params[1].data
            for r in 0..<rows { (output + r * numOutput).update(from: bias, count: numOutput) }
        }
        BLAS.gemm(transposeB: true, m: rows, n: numOutput, k: inputs, a: bottom[0].data, b: params[0].data,
                  beta: biasTerm ? 1 : 0, c: output)
        return 0
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let topDiff = top[0].diff
        BLAS.gemm(transposeA: true, m: numOutput, n: inputs, k: rows, a: topDiff, b: bottom[0].data, beta: 1, c: params[0].diff)
        if biasTerm {
            BLAS.gemv(transpose: true, m: rows, n: numOutput, a: topDiff, x: ones.data, beta: 1, y: params[1].diff)
        }
        if bottom[0].needsGradient {
            BLAS.gemm(m: rows, n: inputs, k: numOutput, a: topDiff, b: params[0].data, c: bottom[0].diff)
        }
    }
}

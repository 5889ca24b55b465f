import SwiftCaffeCore
import SwiftCaffeSpec

/// A lookup table (Caffe's `Embed`): each bottom value is an index in 0..<`input_dim` and
/// becomes that row of a learned `input_dim` × `num_output` matrix (plus a learned bias with
/// `bias_term`, default true). Top shape: the bottom's shape + [num_output]. The net checks
/// every index before the layer runs (`IndexConsumer`); called directly, an index that is not
/// a whole number in range gives a zero row.
public final class EmbedLayer: Layer, IndexConsumer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let numOutput: Int
    let inputDim: Int
    let biasTerm: Bool
    let weightFiller: FillerSpec
    let biasFiller: FillerSpec
    let context: LayerContext

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        numOutput = try spec.int("num_output", in: 1...(1 << 20))
        inputDim = try spec.int("input_dim", in: 1...Int(Int32.max))
        biasTerm = try spec.bool("bias_term", default: true)
        weightFiller = try spec.filler("weight_filler", default: FillerSpec(.uniform, min: -0.1, max: 0.1))
        biasFiller = try spec.filler("bias_filler", default: .zero)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        params = [try context.parameter(name, "weights", shape: [inputDim, numOutput], filler: weightFiller)]
        if biasTerm { params.append(try context.parameter(name, "bias", shape: [numOutput], filler: biasFiller)) }
        try top[0].reshape(bottom[0].shape + [numOutput])
    }

    public var indexBottoms: [IndexBottom] { [IndexBottom(slot: 0, range: 0..<inputDim, what: "embedding index")] }

    private func row(_ value: Float) -> Int? { Int(whole: value, in: 0...(inputDim - 1)) }

    public func forward(bottom: [Blob], top: [Blob]) {
        let w = params[0].data, b = biasTerm ? params[1].data : nil
        for n in 0..<bottom[0].count {
            let target = top[0].data + n * numOutput
            guard let r = row(bottom[0].data[n]) else {
                target.update(repeating: 0, count: numOutput)
                continue
            }
            for o in 0..<numOutput { target[o] = w[r * numOutput + o] + (b?[o] ?? 0) }
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let dw = params[0].diff, db = biasTerm ? params[1].diff : nil
        for n in 0..<bottom[0].count {
            let source = top[0].diff + n * numOutput
            if let r = row(bottom[0].data[n]) { for o in 0..<numOutput { dw[r * numOutput + o] += source[o] } }
            if let db { for o in 0..<numOutput { db[o] += source[o] } }
        }
    }

    /// The indices have no tangent; a row moves only with the table: ẏ = Ẇ[index] + ḃ.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let dy = topTangent[0].data
        dy.update(repeating: 0, count: topTangent[0].count)
        guard let parameterTangent else { return }
        let dw = parameterTangent[0].data, db = biasTerm ? parameterTangent[1].data : nil
        for n in 0..<bottom[0].count {
            guard let r = row(bottom[0].data[n]) else { continue }
            for o in 0..<numOutput { dy[n * numOutput + o] = dw[r * numOutput + o] + (db?[o] ?? 0) }
        }
    }
}

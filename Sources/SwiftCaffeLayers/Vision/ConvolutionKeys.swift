import SwiftCaffeCore
import SwiftCaffeSpec

/// The keys of Caffe's `convolution_param` that Convolution, Deconvolution and
/// LocallyConnected share, and the weight and bias blobs made from them.
package struct ConvolutionKeys {
    package let numOutput: Int
    package let window: WindowKeys
    package let biasTerm: Bool
    let weightFiller: FillerSpec
    let biasFiller: FillerSpec

    /// `dilated`: the layer reads `dilation` too.
    package init(_ spec: LayerSpec, dilated: Bool) throws {
        numOutput = try spec.int("num_output", in: 1...(1 << 20))
        window = try WindowKeys(spec, kernelRequired: true, dilated: dilated)
        biasTerm = try spec.bool("bias_term", default: true)
        weightFiller = try spec.filler("weight_filler", default: .zero)
        biasFiller = try spec.filler("bias_filler", default: .zero)
    }

    /// The layer's parameters in Caffe's order: the weights of `weightShape`, then, with
    /// `bias_term`, the bias of `biasShape`.
    func parameters(of layer: String, context: LayerContext, weightShape: [Int], biasShape: [Int]) throws -> [Blob] {
        let weights = try context.parameter(layer, "weights", shape: weightShape, filler: weightFiller)
        guard biasTerm else { return [weights] }
        return [weights, try context.parameter(layer, "bias", shape: biasShape, filler: biasFiller)]
    }
}

import SwiftCaffeCore
import SwiftCaffeSpec

/// Unrolls every kernel window of each image into a column, as Convolution does internally
/// (Caffe's `Im2col`): top N × (C·kh·kw) × outH × outW. Convolution's window keys
/// (`kernel_size`, `stride`, `pad`, `dilation` and their `_h`/`_w` forms).
public final class Im2colLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    let window: WindowKeys
    private var geometry = WindowGeometry(channels: 0, height: 0, width: 0, kernelH: 0, kernelW: 0)
    private var batch = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        window = try WindowKeys(spec, kernelRequired: true, dilated: true)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0]
        guard x.shape.count == 4 else { throw error("expects an N×C×H×W bottom, but '\(x.name)' is \(x.shapeDescription)") }
        geometry = window.geometry(channels: x.shape[1], height: x.shape[2], width: x.shape[3])
        guard geometry.outputH > 0, geometry.outputW > 0 else { throw error("the window does not fit the \(x.shape[2])×\(x.shape[3]) input") }
        batch = x.shape[0]
        try top[0].reshape([batch, geometry.channels * geometry.kernelH * geometry.kernelW, geometry.outputH, geometry.outputW])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let inSize = bottom[0].count / batch, outSize = top[0].count / batch
        for n in 0..<batch { im2col(bottom[0].data + n * inSize, geometry, top[0].data + n * outSize) }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let inSize = bottom[0].count / batch, outSize = top[0].count / batch
        for n in 0..<batch { col2im(top[0].diff + n * outSize, geometry, bottom[0].diff + n * inSize) }
    }

    /// The layer is linear: the tops' tangents are the forward pass applied to the bottoms' tangents.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        forward(bottom: bottomTangent, top: topTangent)
    }
}

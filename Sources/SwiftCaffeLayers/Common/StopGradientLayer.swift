import SwiftCaffeCore
import SwiftCaffeSpec

/// Passes its bottom forward unchanged and no gradient back (its bottom's diff is zero); its
/// backward is deliberately not the derivative of its forward, so `gradcheck` skips it. What
/// Caffe's `propagate_down: false` means for one bottom of a layer. The net inserts one before
/// such a bottom (see `NetSchedule`); a net file may also use it directly, as PyTorch's `detach`.
public final class StopGradientLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []

    public init(spec: LayerSpec, context: LayerContext) throws { self.spec = spec }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        try top[0].reshape(bottom[0].shape)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        top[0].data.update(from: bottom[0].data, count: bottom[0].count)
    }

    /// Zero, not nothing: a Split above may add this diff to its other readers'.
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        bottom[0].diff.update(repeating: 0, count: bottom[0].count)
    }

    /// Zero too: the top counts as a constant in both modes (as JAX's `stop_gradient`), so
    /// forward mode stays the transpose of backward and the adjoint checks hold.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        topTangent[0].data.update(repeating: 0, count: bottom[0].count)
    }
}

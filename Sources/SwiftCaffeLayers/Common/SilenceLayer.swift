import SwiftCaffeCore
import SwiftCaffeSpec

/// Caffe's `Silence`: takes blobs and makes nothing, so that a blob no layer reads is not an
/// output of the net (printed, tested, kept). Nothing depends on its bottoms through it, so
/// their gradient from it is zero.
public final class SilenceLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 1...Int.max }
    public static var topCount: ClosedRange<Int> { 0...0 }

    public init(spec: LayerSpec, context: LayerContext) throws { self.spec = spec }

    public func setUp(bottom: [Blob], top: [Blob]) throws {}

    public func forward(bottom: [Blob], top: [Blob]) {}

    /// Zero, not nothing: a Split above adds this diff to its other readers'.
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        for blob in bottom where blob.needsGradient { blob.diff.update(repeating: 0, count: blob.count) }
    }

    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {}
}

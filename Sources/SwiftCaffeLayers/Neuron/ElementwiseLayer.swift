import SwiftCaffeCore
import SwiftCaffeSpec

/// A function applied to every element, with its derivative: the whole of a neuron layer
/// such as ReLU or ELU. `ElementwiseLayer` turns one into a layer; being generic, each
/// function is specialised into the loop with no call per element.
public protocol ElementwiseFunction {
    /// Reads the function's keys (e.g. `negative_slope`).
    init(spec: LayerSpec) throws
    func value(_ x: Float) -> Float
    /// dy/dx at x, where y = value(x). When `derivativeUsesOutputOnly`, `x` is not available
    /// (the layer may run in place) and is passed as y.
    func derivative(x: Float, y: Float) -> Float
    /// Whether the derivative can be computed from y alone, which lets the layer work in place.
    static var derivativeUsesOutputOnly: Bool { get }
    /// y[i] = value(x[i]) for `count` values. A requirement, not only a loop in the layer, so
    /// that each function's witness runs a loop specialised for it: called through the generic
    /// layer, `value` cost a witness call per value (a ReLU6 over 400k values took 0.5 ms).
    func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int)
}

extension ElementwiseFunction {
    public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = value(x[i]) }
    }
}

/// A neuron layer: top = f(bottom) element by element, bottom diff = top diff · f′, top
/// tangent = f′ · bottom tangent.
public final class ElementwiseLayer<Function: ElementwiseFunction>: Layer, TangentLayer, ChannelsLastCapable {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var supportsInPlace: Bool { Function.derivativeUsesOutputOnly }
    public static var backwardReadsTop: Bool { Function.derivativeUsesOutputOnly }
    package let function: Function
    private var count = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        function = try Function(spec: spec)
    }

    public var forwardFLOPs: Int { count }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        try top[0].reshape(bottom[0].shape)
        count = bottom[0].count
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, f = function
        Parallel.forChunks(of: count, minimumPerChunk: 1 << 14) { _, range in
            f.apply(x + range.lowerBound, y + range.lowerBound, count: range.count)
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let x = Function.derivativeUsesOutputOnly ? top[0].data : bottom[0].data
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff, f = function
        Parallel.forChunks(of: count, minimumPerChunk: 1 << 14) { _, range in
            for i in range { dx[i] = dy[i] * f.derivative(x: x[i], y: y[i]) }
        }
    }

    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        let x = Function.derivativeUsesOutputOnly ? top[0].data : bottom[0].data
        let y = top[0].data, dx = bottomTangent[0].data, dy = topTangent[0].data, f = function
        Parallel.forChunks(of: count, minimumPerChunk: 1 << 14) { _, range in
            for i in range { dy[i] = f.derivative(x: x[i], y: y[i]) * dx[i] }
        }
    }
}

extension ElementwiseLayer {
    /// Every value alike: a ReLU6 or sigmoid between channels-last convolutions keeps them so.
}

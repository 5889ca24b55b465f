import Foundation
import SwiftCaffeCore
import SwiftCaffeSpec

// The element-wise neuron functions, with Caffe's keys and defaults. Each becomes a layer as
// `ElementwiseLayer<Function>` (see LayerRegistry).

/// ReLU: max(x, 0), or x·negative_slope below 0 (leaky). In place: the sign survives in y.
public struct ReLUFunction: ElementwiseFunction {
    let slope: Float
    public init(spec: LayerSpec) throws { slope = try spec.float("negative_slope", default: 0, in: 0...Float.greatestFiniteMagnitude) }
    public func value(_ x: Float) -> Float { x > 0 ? x : x * slope }
    public func derivative(x: Float, y: Float) -> Float { y > 0 ? 1 : slope }
    public static var derivativeUsesOutputOnly: Bool { true }
}

/// Sigmoid: 1 / (1 + e^−x); y′ = y(1 − y).
public struct SigmoidFunction: ElementwiseFunction {
    public init(spec: LayerSpec) throws {}
    public func value(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
    public func derivative(x: Float, y: Float) -> Float { y * (1 - y) }
    public static var derivativeUsesOutputOnly: Bool { true }
    /// With the vector exp (`VectorMath`): the scalar expf took EfficientNet-B0's sigmoids 12 ms.
    public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { VectorMath.sigmoid(x, into: y, count: count) }
}

/// TanH: tanh x; y′ = 1 − y².
public struct TanHFunction: ElementwiseFunction {
    public init(spec: LayerSpec) throws {}
    public func value(_ x: Float) -> Float { tanhf(x) }
    public func derivative(x: Float, y: Float) -> Float { 1 - y * y }
    public static var derivativeUsesOutputOnly: Bool { true }
    public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { VectorMath.tanh(x, into: y, count: count) }
}

/// ELU: x above 0, alpha·(e^x − 1) below; y′ = 1 or y + alpha.
public struct ELUFunction: ElementwiseFunction {
    let alpha: Float
    public init(spec: LayerSpec) throws { alpha = try spec.float("alpha", default: 1, in: 0...Float.greatestFiniteMagnitude) }
    public func value(_ x: Float) -> Float { x > 0 ? x : alpha * (expf(x) - 1) }
    public func derivative(x: Float, y: Float) -> Float { y > 0 ? 1 : y + alpha }
    public static var derivativeUsesOutputOnly: Bool { true }
}

/// AbsVal: |x|; y′ = sign x.
public struct AbsValFunction: ElementwiseFunction {
    public init(spec: LayerSpec) throws {}
    public func value(_ x: Float) -> Float { abs(x) }
    public func derivative(x: Float, y: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
    public static var derivativeUsesOutputOnly: Bool { false }
}

/// Power: (shift + scale·x)^power; y′ = power·scale·(shift + scale·x)^(power−1).
public struct PowerFunction: ElementwiseFunction {
    let power, scale, shift: Float
    public init(spec: LayerSpec) throws {
        power = try spec.float("power", default: 1)
        scale = try spec.float("scale", default: 1)
        shift = try spec.float("shift", default: 0)
    }
    public func value(_ x: Float) -> Float { powf(shift + scale * x, power) }
    public func derivative(x: Float, y: Float) -> Float { power == 0 ? 0 : power * scale * powf(shift + scale * x, power - 1) }
    /// Power 1 (an affine map, as HardSigmoid's and constants' arithmetic import) without powf.
    public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        if power == 1 {
            let scale = scale, shift = shift
            for i in 0..<count { y[i] = shift + scale * x[i] }
        } else {
            for i in 0..<count { y[i] = value(x[i]) }
        }
    }
    public static var derivativeUsesOutputOnly: Bool { false }
}

/// Exp: base^(shift + scale·x), base e when `base` is −1 (Caffe's default); y′ = y·ln(base)·scale.
public struct ExpFunction: ElementwiseFunction {
    let logBase, scale, shift: Float
    public init(spec: LayerSpec) throws {
        let base = try spec.float("base", default: -1)
        guard base == -1 || base > 0 else { throw spec.error("'base' must be positive, or -1 for e", at: spec.node("base")) }
        logBase = base == -1 ? 1 : logf(base)
        scale = try spec.float("scale", default: 1)
        shift = try spec.float("shift", default: 0)
    }
    public func value(_ x: Float) -> Float { expf(logBase * (shift + scale * x)) }
    public func derivative(x: Float, y: Float) -> Float { y * logBase * scale }
    public static var derivativeUsesOutputOnly: Bool { true }
}

/// Log: log_base(shift + scale·x), natural when `base` is −1; y′ = scale / ((shift + scale·x)·ln base).
public struct LogFunction: ElementwiseFunction {
    let logBase, scale, shift: Float
    public init(spec: LayerSpec) throws {
        let base = try spec.float("base", default: -1)
        guard base == -1 || (base > 0 && base != 1) else { throw spec.error("'base' must be positive and not 1, or -1 for e", at: spec.node("base")) }
        logBase = base == -1 ? 1 : logf(base)
        scale = try spec.float("scale", default: 1)
        shift = try spec.float("shift", default: 0)
    }
    public func value(_ x: Float) -> Float { logf(shift + scale * x) / logBase }
    public func derivative(x: Float, y: Float) -> Float { scale / ((shift + scale * x) * logBase) }
    public static var derivativeUsesOutputOnly: Bool { false }
}

/// BNLL: log(1 + e^x), computed without overflow; y′ = sigmoid(x).
public struct BNLLFunction: ElementwiseFunction {
    public init(spec: LayerSpec) throws {}
    public func value(_ x: Float) -> Float { x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)) }
    public func derivative(x: Float, y: Float) -> Float { 1 / (1 + expf(-x)) }
    public static var derivativeUsesOutputOnly: Bool { false }
}

/// Threshold: 1 above `threshold`, else 0. Its derivative is 0 almost everywhere.
public struct ThresholdFunction: ElementwiseFunction {
    let threshold: Float
    public init(spec: LayerSpec) throws { threshold = try spec.float("threshold", default: 0) }
    public func value(_ x: Float) -> Float { x > threshold ? 1 : 0 }
    public func derivative(x: Float, y: Float) -> Float { 0 }
    public static var derivativeUsesOutputOnly: Bool { true }
}

/// Clip: x limited to [min, max]; y′ = 1 inside, 0 outside.
public struct ClipFunction: ElementwiseFunction {
    package let low, high: Float
    public init(spec: LayerSpec) throws {
        low = try spec.float("min")
        high = try spec.float("max")
        guard low <= high else { throw spec.error("'min' \(low) is above 'max' \(high)", hint: "swap them") }
    }
    public func value(_ x: Float) -> Float { min(max(x, low), high) }
    public func derivative(x: Float, y: Float) -> Float { x > low && x < high ? 1 : 0 }
    public static var derivativeUsesOutputOnly: Bool { false }
}

/// Swish: x·sigmoid(beta·x); y′ = s + beta·x·s·(1 − s).
public struct SwishFunction: ElementwiseFunction {
    let beta: Float
    public init(spec: LayerSpec) throws { beta = try spec.float("beta", default: 1) }
    public func value(_ x: Float) -> Float { x / (1 + expf(-beta * x)) }
    /// SiLU (beta 1, EfficientNet's activation) with the vector exp.
    public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        if beta == 1 {
            VectorMath.silu(x, into: y, count: count)
        } else {
            for i in 0..<count { y[i] = value(x[i]) }
        }
    }
    public func derivative(x: Float, y: Float) -> Float {
        let s = 1 / (1 + expf(-beta * x))
        return s + beta * x * s * (1 - s)
    }
    public static var derivativeUsesOutputOnly: Bool { false }
}

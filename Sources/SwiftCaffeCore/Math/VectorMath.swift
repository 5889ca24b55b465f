/// exp, sigmoid and tanh over contiguous Floats, eight lanes at a time, for the recurrent
/// cells: an LSTM step takes five of them per unit, and glibc's scalar `tanhf` made them a
/// large share of an LSTM's training time (docs/recurrent.md).
///
/// exp reduces x = k·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two parts so that r is exact)
/// and evaluates Cephes's degree-6 polynomial for e^r, then scales by 2^k through the
/// exponent bits: within 2 ulp of the true value on [−87.3, 88.3], saturating beyond (at
/// 1.2e-38 and 2.4e38, which sigmoid and tanh turn into their exact limits), NaN for NaN.
/// sigmoid is 1 / (1 + e^−x), within 1e-7 of the true value, and tanh 1 − 2 / (e^2x + 1),
/// within 2e-7 (3 ulp of 1), both absolute (VectorMathTests measures them): all a network's
/// activations need.
public enum VectorMath {
    public typealias Lanes = SIMD8<Float>

    @inlinable @inline(__always)
    public static func exp(_ x: Lanes) -> Lanes {
        // e^x is a normal Float for x in [ln 2^−126, ln 2^127.5]; beyond, it saturates there.
        let clamped = x.clamped(lowerBound: Lanes(repeating: -87.33654), upperBound: Lanes(repeating: 88.37626))
        // k = x / ln 2 rounded to the nearest integer: adding 1.5·2²³ leaves k in the low
        // mantissa bits (scalar floorf per lane cost more than the polynomial).
        let shifted = clamped * 1.442695040888963 + 12582912
        let k = shifted - 12582912
        let r = clamped - k * 0.693359375 + k * 2.12194440e-4
        var p = Lanes(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let er = p * r * r + r + 1
        // 2^k: k + 127 in the exponent bits.
        let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        var result = er * unsafeBitCast(exponent, to: Lanes.self)
        result.replace(with: .nan, where: x .!= x)  // a diverging net must see its NaN
        return result
    }

    @inlinable @inline(__always)
    public static func sigmoid(_ x: Lanes) -> Lanes { 1 / (1 + exp(-x)) }

    @inlinable @inline(__always)
    public static func tanh(_ x: Lanes) -> Lanes {
        // For large |x|, e^2x is 0 or ∞ and the formula gives exactly ∓1.
        1 - 2 / (exp(2 * x) + 1)
    }

    /// `target[i] = function(source[i])` for i in 0..<count; `target` may be `source`.
    @inline(__always)
    static func map(_ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, count: Int, _ function: (Lanes) -> Lanes) {
        var i = 0
        while i + 8 <= count {
            let x = UnsafeRawPointer(source + i).loadUnaligned(as: Lanes.self)
            UnsafeMutableRawPointer(target + i).storeBytes(of: function(x), as: Lanes.self)
            i += 8
        }
        guard i < count else { return }
        var x = Lanes()
        for lane in 0..<(count - i) { x[lane] = source[i + lane] }
        let y = function(x)
        for lane in 0..<(count - i) { target[i + lane] = y[lane] }
    }

    public static func sigmoid(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        map(source, target, count: count, sigmoid)
    }

    public static func tanh(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        map(source, target, count: count, tanh)
    }
}

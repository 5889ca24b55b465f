import CMachine

/// exp, sigmoid, tanh and SiLU over contiguous Floats, many lanes at a time: for the recurrent
/// cells (an LSTM step takes five of them per unit, and glibc's scalar `tanhf` made them a
/// large share of an LSTM's training time, docs/recurrent.md) and the neuron layers.
///
/// exp reduces x = k·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two parts so that r is exact)
/// and evaluates Cephes's degree-6 polynomial for e^r, then scales by 2^k through the
/// exponent bits: within 2 ulp of the true value on [−87.3, 88.3], saturating beyond (at
/// 1.2e-38 and 2.4e38, which sigmoid and tanh turn into their exact limits), NaN for NaN.
/// sigmoid is 1 / (1 + e^−x), within 1e-7 of the true value, and tanh 1 − 2 / (e^2x + 1),
/// within 2e-7 (3 ulp of 1), both absolute (VectorMathTests measures them): all a network's
/// activations need. The loops are C (CMachine's VectorFunctions.c), written without
/// branches so that the compiler vectorises them: Swift's SIMD8 version of the same steps
/// called its lane-wise min and max per vector and ran 2.8 ns a value, about ten times slower.
/// Every function takes `target` equal to `source`.
public enum VectorMath {
    public static func exp(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        swiftcaffe_exp(source, target, count)
    }

    public static func sigmoid(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        swiftcaffe_sigmoid(source, target, count)
    }

    public static func tanh(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        swiftcaffe_tanh(source, target, count)
    }

    /// x · sigmoid(x): Swish with beta 1, EfficientNet's activation.
    public static func silu(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        swiftcaffe_silu(source, target, count)
    }
}

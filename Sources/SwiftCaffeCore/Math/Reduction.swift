/// The sum of `count` floats. A plain `sum += x[i]` loop cannot be vectorised (the compiler
/// must keep IEEE addition order); this keeps 32 partial sums in SIMD registers instead,
/// which made a convolution's bias gradient several times faster (docs/performance.md).
@inlinable @inline(__always)
package func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var a = SIMD16<Float>(), b = SIMD16<Float>()
    var i = 0
    while i + 32 <= count {
        a += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
        b += UnsafeRawPointer(x + i + 16).loadUnaligned(as: SIMD16<Float>.self)
        i += 32
    }
    var total = (a + b).sum()
    while i < count {
        total += x[i]
        i += 1
    }
    return total
}

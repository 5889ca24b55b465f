import SwiftCaffeCore

// BatchNorm's per-row loops, 16 lanes at a time. A plain loop either cannot be vectorised (a
// sum must keep IEEE addition order) or is not, once the optional Scale and ReLU branch
// inside it. Each has a scalar tail doing the very operations of its lanes, so a value does
// not depend on where in the row it falls.

private typealias Lanes = SIMD16<Float>

@inline(__always)
private func load(_ pointer: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(pointer).loadUnaligned(as: Lanes.self) }

@inline(__always)
private func store(_ value: Lanes, _ pointer: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Lanes.self) }

/// max(z, 0), or z·slope at or below 0: the ReLU layer's own `z > 0 ? z : z * slope`.
@inline(__always)
private func relu(_ z: Lanes, slope: Float) -> Lanes { z.replacing(with: z * slope, where: .!(z .> 0)) }

/// Σ(x − shift) and Σ(x − shift)² over `count` values.
@inline(__always)
func shiftedSums(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> (sum: Float, squares: Float) {
    var sums = Lanes(), squares = Lanes(), i = 0
    while i + Lanes.scalarCount <= count {
        let d = load(x + i) - shift
        sums += d
        squares += d * d
        i += Lanes.scalarCount
    }
    var sum = sums.sum(), square = squares.sum()
    while i < count {
        let d = x[i] - shift
        sum += d
        square += d * d
        i += 1
    }
    return (sum, square)
}

/// y = relu((x − mu)·inverse·factor + shift), each step only where given, keeping x̂ =
/// (x − mu)·inverse in `xHat` when given. x and y may be one buffer.
@inline(__always)
func normalizeRow(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, keeping xHat: UnsafeMutablePointer<Float>?, count: Int,
                  mu: Float, inverse: Float, factor: Float?, shift: Float, slope: Float?) {
    var i = 0
    while i + Lanes.scalarCount <= count {
        let v = (load(x + i) - mu) * inverse
        if let xHat { store(v, xHat + i) }
        var z = v
        if let factor { z = v * factor + shift }
        if let slope { z = relu(z, slope: slope) }
        store(z, y + i)
        i += Lanes.scalarCount
    }
    while i < count {
        let v = (x[i] - mu) * inverse
        xHat?[i] = v
        var z = v
        if let factor { z = v * factor + shift }
        if let slope { z = z > 0 ? z : z * slope }
        y[i] = z
        i += 1
    }
}

/// The gradient g before the folded ReLU (dy where z = x̂·factor + shift is above 0, dy·slope
/// elsewhere), one lane's worth.
@inline(__always)
private func reluGradient(_ dy: Lanes, _ xHat: Lanes, factor: Float?, shift: Float, slope: Float?) -> Lanes {
    guard let slope else { return dy }
    var z = xHat
    if let factor { z = xHat * factor + shift }
    return dy.replacing(with: dy * slope, where: .!(z .> 0))
}

@inline(__always)
private func reluGradient(_ dy: Float, _ xHat: Float, factor: Float?, shift: Float, slope: Float?) -> Float {
    guard let slope else { return dy }
    var z = xHat
    if let factor { z = xHat * factor + shift }
    return z > 0 ? dy : dy * slope
}

/// Σg and Σg·x̂ over a row, g the gradient before the folded ReLU (see `reluGradient`).
@inline(__always)
func gradientSums(_ dy: UnsafePointer<Float>, _ xHat: UnsafePointer<Float>, count: Int, factor: Float?, shift: Float, slope: Float?) -> (sum: Float, timesXHat: Float) {
    var sums = Lanes(), products = Lanes(), i = 0
    while i + Lanes.scalarCount <= count {
        let h = load(xHat + i), g = reluGradient(load(dy + i), h, factor: factor, shift: shift, slope: slope)
        sums += g
        products += g * h
        i += Lanes.scalarCount
    }
    var sum = sums.sum(), product = products.sum()
    while i < count {
        let g = reluGradient(dy[i], xHat[i], factor: factor, shift: shift, slope: slope)
        sum += g
        product += g * xHat[i]
        i += 1
    }
    return (sum, product)
}

/// dx = (g·factor − meanDiff − x̂·meanDiffTimesXHat)·inverse, g as in `gradientSums`; the
/// means are those of dx̂ = g·factor. dy and dx may be one buffer.
@inline(__always)
func normalizationGradientRow(_ dy: UnsafePointer<Float>, _ xHat: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int, factor: Float?, shift: Float,
                              slope: Float?, meanDiff: Float, meanDiffTimesXHat: Float, inverse: Float) {
    var i = 0
    while i + Lanes.scalarCount <= count {
        let h = load(xHat + i)
        var d = reluGradient(load(dy + i), h, factor: factor, shift: shift, slope: slope)
        if let factor { d *= factor }
        store((d - meanDiff - h * meanDiffTimesXHat) * inverse, dx + i)
        i += Lanes.scalarCount
    }
    while i < count {
        var d = reluGradient(dy[i], xHat[i], factor: factor, shift: shift, slope: slope)
        if let factor { d *= factor }
        dx[i] = (d - meanDiff - xHat[i] * meanDiffTimesXHat) * inverse
        i += 1
    }
}

/// The geometry of a 2-D sliding window (convolution or pooling) over one C×H×W image.
public struct WindowGeometry: Sendable, Equatable {
    public var channels, height, width: Int
    public var kernelH, kernelW: Int
    public var strideH = 1, strideW = 1
    public var padH = 0, padW = 0

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int,
                strideH: Int = 1, strideW: Int = 1, padH: Int = 0, padW: Int = 0) {
        self.channels = channels
        self.height = height
        self.width = width
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideH = strideH
        self.strideW = strideW
        self.padH = padH
        self.padW = padW
    }

    /// Output size with floor rounding (convolution).
    public var outputH: Int { (height + 2 * padH - kernelH) / strideH + 1 }
    public var outputW: Int { (width + 2 * padW - kernelW) / strideW + 1 }
}

/// im2col: unrolls every kernel-sized patch of `image` (C×H×W) into a column of `columns`
/// ((C·kh·kw) × (outH·outW)), so a convolution becomes one GEMM. Padding reads as zero.
public func im2col(_ image: UnsafePointer<Float>, _ g: WindowGeometry, _ columns: UnsafeMutablePointer<Float>) {
    let outH = g.outputH, outW = g.outputW
    var row = columns
    for c in 0..<g.channels {
        let plane = image + c * g.height * g.width
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                for oy in 0..<outH {
                    let y = oy * g.strideH - g.padH + ki
                    let out = row + oy * outW
                    if y < 0 || y >= g.height {
                        out.update(repeating: 0, count: outW)
                        continue
                    }
                    let source = plane + y * g.width
                    if g.strideW == 1 {
                        // Contiguous run: valid x range copied in one go, padding zeroed around it.
                        let x0 = kj - g.padW
                        let first = max(0, -x0), last = min(outW, g.width - x0)
                        if first > 0 { out.update(repeating: 0, count: min(first, outW)) }
                        if last > first { (out + first).update(from: source + x0 + first, count: last - first) }
                        if last < outW { (out + max(last, 0)).update(repeating: 0, count: outW - max(last, 0)) }
                    } else {
                        for ox in 0..<outW {
                            let x = ox * g.strideW - g.padW + kj
                            out[ox] = (x >= 0 && x < g.width) ? source[x] : 0
                        }
                    }
                }
                row += outH * outW
            }
        }
    }
}

/// col2im: the adjoint of `im2col`; sums every column entry back into the image position it
/// was read from. `image` is overwritten.
public func col2im(_ columns: UnsafePointer<Float>, _ g: WindowGeometry, _ image: UnsafeMutablePointer<Float>) {
    image.update(repeating: 0, count: g.channels * g.height * g.width)
    let outH = g.outputH, outW = g.outputW
    var row = columns
    for c in 0..<g.channels {
        let plane = image + c * g.height * g.width
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                for oy in 0..<outH {
                    let y = oy * g.strideH - g.padH + ki
                    guard y >= 0 && y < g.height else { continue }
                    let target = plane + y * g.width
                    let source = row + oy * outW
                    for ox in 0..<outW {
                        let x = ox * g.strideW - g.padW + kj
                        if x >= 0 && x < g.width { target[x] += source[ox] }
                    }
                }
                row += outH * outW
            }
        }
    }
}

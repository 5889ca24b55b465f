/// The geometry of a 2-D sliding window (convolution or pooling) over one C×H×W image.
public struct WindowGeometry: Sendable, Equatable {
    public var channels, height, width: Int
    public var kernelH, kernelW: Int
    public var strideH = 1, strideW = 1
    public var padH = 0, padW = 0
    /// Spacing between kernel taps (1: a dense kernel).
    public var dilationH = 1, dilationW = 1

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int,
                strideH: Int = 1, strideW: Int = 1, padH: Int = 0, padW: Int = 0, dilationH: Int = 1, dilationW: Int = 1) {
        self.channels = channels
        self.height = height
        self.width = width
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideH = strideH
        self.strideW = strideW
        self.padH = padH
        self.padW = padW
        self.dilationH = dilationH
        self.dilationW = dilationW
    }

    /// The extent a dilated kernel covers.
    public var extentH: Int { dilationH * (kernelH - 1) + 1 }
    public var extentW: Int { dilationW * (kernelW - 1) + 1 }

    /// Output size with floor rounding (convolution).
    public var outputH: Int { (height + 2 * padH - extentH) / strideH + 1 }
    public var outputW: Int { (width + 2 * padW - extentW) / strideW + 1 }
}

/// im2col: unrolls every kernel-sized patch of `image` (C×H×W) into a column of `columns`
/// ((C·kh·kw) rows of outH·outW), so a convolution becomes one GEMM. Padding reads as zero.
/// Rows are `rowStride` apart, so the images of a batch can sit side by side in one matrix.
///
/// Rows are short (LeNet's conv2 has 8 outputs a row), so the copies are plain loops that the
/// compiler vectorises, not memcpy calls whose overhead would dominate.
public func im2col(_ image: UnsafePointer<Float>, _ g: WindowGeometry, _ columns: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    let outH = g.outputH, outW = g.outputW
    let rowStride = rowStride ?? outH * outW
    var row = columns
    for c in 0..<g.channels {
        let plane = image + c * g.height * g.width
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let x0 = kj * g.dilationW - g.padW
                // Output columns whose input x = ox·stride + x0 lies inside the image.
                let first = min(outW, max(0, (-x0 + g.strideW - 1) / g.strideW))
                let last = max(first, min(outW, (g.width - x0 + g.strideW - 1) / g.strideW))
                for oy in 0..<outH {
                    let y = oy * g.strideH - g.padH + ki * g.dilationH
                    let out = row + oy * outW
                    guard y >= 0 && y < g.height else {
                        for ox in 0..<outW { out[ox] = 0 }
                        continue
                    }
                    let source = plane + y * g.width + x0
                    for ox in 0..<first { out[ox] = 0 }
                    if g.strideW == 1 {
                        for ox in first..<last { out[ox] = source[ox] }
                    } else {
                        for ox in first..<last { out[ox] = source[ox * g.strideW] }
                    }
                    for ox in last..<outW { out[ox] = 0 }
                }
                row += rowStride
            }
        }
    }
}

/// col2im: the adjoint of `im2col`; sums every column entry back into the image position it
/// was read from. `image` is overwritten.
public func col2im(_ columns: UnsafePointer<Float>, _ g: WindowGeometry, _ image: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    image.update(repeating: 0, count: g.channels * g.height * g.width)
    let outH = g.outputH, outW = g.outputW
    let rowStride = rowStride ?? outH * outW
    var row = columns
    for c in 0..<g.channels {
        let plane = image + c * g.height * g.width
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let x0 = kj * g.dilationW - g.padW
                let first = min(outW, max(0, (-x0 + g.strideW - 1) / g.strideW))
                let last = max(first, min(outW, (g.width - x0 + g.strideW - 1) / g.strideW))
                for oy in 0..<outH {
                    let y = oy * g.strideH - g.padH + ki * g.dilationH
                    guard y >= 0 && y < g.height else { continue }
                    let target = plane + y * g.width + x0
                    let source = row + oy * outW
                    if g.strideW == 1 {
                        for ox in first..<last { target[ox] += source[ox] }
                    } else {
                        for ox in first..<last { target[ox * g.strideW] += source[ox] }
                    }
                }
                row += rowStride
            }
        }
    }
}

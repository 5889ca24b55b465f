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
/// Rows are short (LeNet's conv2 has 8 outputs a row), so what costs is not memory but the
/// work around each copy. Which output rows and columns of a kernel tap read inside the image
/// is worked out once per call (`withInsideRanges`): worked out per tap, it took two 64-bit
/// divisions, at 40 to 90 cycles apiece the largest cost of the old loops. A tap that reads
/// no padding runs a loop of plain vector copies; one that does zeroes its whole row first
/// (at memset speed) and then copies the pieces inside. Indices wrap (each is bounded by the
/// blob's checked size). docs/performance.md ("Convolution") has the speed-ups.
public func im2col(_ image: UnsafePointer<Float>, _ g: WindowGeometry, _ columns: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    let outH = g.outputH, outW = g.outputW, width = g.width, strideW = g.strideW
    let rowStride = rowStride ?? outH &* outW
    let lineStep = g.strideH &* width
    g.withInsideRanges { rowsInside, columnsInside in
        var row = columns
        for c in 0..<g.channels {
            let plane = image + c &* g.height &* width
            for ki in 0..<g.kernelH {
                let rows = rowsInside[ki]
                for kj in 0..<g.kernelW {
                    let first = columnsInside[kj].lowerBound, count = columnsInside[kj].count
                    var out = row + rows.lowerBound &* outW
                    var source = plane + g.inputOffset(row: rows.lowerBound, column: first, tap: (ki, kj))
                    if rows.count == outH && count == outW {  // no padding read: copies alone
                        for _ in rows {
                            if strideW == 1 { copy(source, out, count) } else { for i in 0..<count { out[i] = source[i &* strideW] } }
                            out += outW
                            source += lineStep
                        }
                    } else {  // zeros first, in one sweep, then the pieces inside the image
                        row.update(repeating: 0, count: outH &* outW)
                        for _ in rows {
                            if strideW == 1 {
                                copy(source, out + first, count)
                            } else {
                                for i in 0..<count { out[first &+ i] = source[i &* strideW] }
                            }
                            out += outW
                            source += lineStep
                        }
                    }
                    row += rowStride
                }
            }
        }
    }
}

/// col2im: the adjoint of `im2col`; sums every column entry back into the image position it
/// was read from. `image` is overwritten.
///
/// The loops run tap by tap, like `im2col`'s: walking one input row across its kw taps
/// instead adds to overlapping pieces back to back, and each add's load then waits for the
/// previous store, which measured much slower. The walk over the taps is written out here and
/// in `im2col` rather than shared through a closure: the shared version measured slower on
/// LeNet's training (docs/performance.md, "Tried, and did not help").
public func col2im(_ columns: UnsafePointer<Float>, _ g: WindowGeometry, _ image: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    image.update(repeating: 0, count: g.channels * g.height * g.width)
    let outH = g.outputH, outW = g.outputW, width = g.width, strideW = g.strideW
    let rowStride = rowStride ?? outH &* outW
    let lineStep = g.strideH &* width
    g.withInsideRanges { rowsInside, columnsInside in
        var row = columns
        for c in 0..<g.channels {
            let plane = image + c &* g.height &* width
            for ki in 0..<g.kernelH {
                let rows = rowsInside[ki]
                for kj in 0..<g.kernelW {
                    let first = columnsInside[kj].lowerBound, count = columnsInside[kj].count
                    var source = row + (rows.lowerBound &* outW &+ first)
                    var target = plane + g.inputOffset(row: rows.lowerBound, column: first, tap: (ki, kj))
                    for _ in rows {
                        if strideW == 1 {
                            add(source, target, count)
                        } else {
                            for i in 0..<count { target[i &* strideW] += source[i] }
                        }
                        source += outW
                        target += lineStep
                    }
                    row += rowStride
                }
            }
        }
    }
}

extension WindowGeometry {
    /// Where in its channel's plane the input of output (row, column) under kernel tap (ki, kj) lies.
    @inline(__always)
    fileprivate func inputOffset(row: Int, column: Int, tap: (Int, Int)) -> Int {
        (row &* strideH &- padH &+ tap.0 &* dilationH) &* width &+ column &* strideW &- padW &+ tap.1 &* dilationW
    }

    /// Calls `body` with, for each kernel row, the output rows whose input row lies inside
    /// the image, and for each kernel column the output columns likewise.
    @inline(__always)
    fileprivate func withInsideRanges(_ body: (_ rows: UnsafeBufferPointer<Range<Int>>, _ columns: UnsafeBufferPointer<Range<Int>>) -> Void) {
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: kernelH + kernelW) { ranges in
            for ki in 0..<kernelH { (ranges.baseAddress! + ki).initialize(to: insideRows(tap: ki)) }
            for kj in 0..<kernelW { (ranges.baseAddress! + kernelH + kj).initialize(to: insideColumns(tap: kj)) }
            body(UnsafeBufferPointer(rebasing: ranges[0..<kernelH]), UnsafeBufferPointer(rebasing: ranges[kernelH...]))
        }
    }

    /// The output rows oy whose input row oy·strideH − padH + tap·dilationH lies inside the image.
    @inline(__always)
    fileprivate func insideRows(tap: Int) -> Range<Int> {
        Self.inside(offset: tap * dilationH - padH, stride: strideH, size: height, outputs: outputH)
    }

    /// The output columns ox whose input column ox·strideW − padW + tap·dilationW lies inside the image.
    @inline(__always)
    fileprivate func insideColumns(tap: Int) -> Range<Int> {
        Self.inside(offset: tap * dilationW - padW, stride: strideW, size: width, outputs: outputW)
    }

    /// The o in 0..<outputs with 0 ≤ o·stride + offset < size.
    @inline(__always)
    private static func inside(offset: Int, stride: Int, size: Int, outputs: Int) -> Range<Int> {
        let first = min(outputs, max(0, (-offset + stride - 1) / stride))
        let last = max(first, min(outputs, size - offset > 0 ? (size - offset + stride - 1) / stride : 0))
        return first..<last
    }
}

/// Copies `count` floats in 8- or 4-float vectors; the last vector ends at `count`,
/// overlapping the one before it, so that no piece (of 8 to 30 floats, usually) ends in a
/// scalar loop.
@inline(__always)
private func copy(_ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, _ count: Int) {
    func move<Vector: SIMD<Float>>(_ type: Vector.Type, at i: Int) {
        UnsafeMutableRawPointer(target + i).storeBytes(of: UnsafeRawPointer(source + i).loadUnaligned(as: Vector.self), as: Vector.self)
    }
    if count >= 8 {
        var i = 0
        while i &+ 8 < count {
            move(SIMD8<Float>.self, at: i)
            i &+= 8
        }
        move(SIMD8<Float>.self, at: count &- 8)
    } else if count >= 4 {
        move(SIMD4<Float>.self, at: 0)
        move(SIMD4<Float>.self, at: count &- 4)
    } else {
        for i in 0..<count { target[i] = source[i] }
    }
}

/// target[i] += source[i] for `count` floats, in 8- then 4-float vectors while it can.
@inline(__always)
private func add(_ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, _ count: Int) {
    func add<Vector: SIMD<Float>>(_ type: Vector.Type, at i: Int) {
        let sum = UnsafeRawPointer(source + i).loadUnaligned(as: Vector.self) + UnsafeRawPointer(target + i).loadUnaligned(as: Vector.self)
        UnsafeMutableRawPointer(target + i).storeBytes(of: sum, as: Vector.self)
    }
    var i = 0
    while i &+ 8 <= count {
        add(SIMD8<Float>.self, at: i)
        i &+= 8
    }
    if i &+ 4 <= count {
        add(SIMD4<Float>.self, at: i)
        i &+= 4
    }
    while i < count {
        target[i] += source[i]
        i &+= 1
    }
}

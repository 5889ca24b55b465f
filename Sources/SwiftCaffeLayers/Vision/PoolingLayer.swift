import SwiftCaffeCore
import SwiftCaffeSpec

/// Max or average pooling over N×C×H×W bottoms with Caffe's semantics: output size rounds up
/// (`ceil`), a window that would start inside the bottom/right padding is dropped, and an
/// average divides by the window's size clipped to the padded image (padding counts, the
/// area beyond it does not). `global_pooling: true` pools each whole plane to 1×1.
///
/// One deliberate difference: Caffe drops a window that starts past the input only when there
/// is padding, so a stride larger than the kernel (kernel 2, stride 9 on 8×8) leaves it a last
/// window with no input at all (−FLT_MAX for MAX, a division by zero for AVE). Here every
/// window starts inside the input, padding or not.
public final class PoolingLayer: Layer, TangentLayer, ChannelsLastCapable {
    public enum Method: String, CaseIterable { case max = "MAX", ave = "AVE" }

    public let spec: LayerSpec
    public var params: [Blob] = []
    let method: Method
    let globalPooling: Bool
    /// Caffe's `round_mode`: CEIL (the default) or FLOOR for the output size.
    let roundsUp: Bool
    var window: WindowKeys
    private var geometry = WindowGeometry(channels: 0, height: 0, width: 0, kernelH: 0, kernelW: 0)
    private var pooledH = 0, pooledW = 0, batch = 0
    /// For max pooling, the index within the input plane that won each output. It fits an
    /// Int32: a blob holds at most 2³¹ values (`checkedCount`), so an index is below 2³¹.
    private var argmax: UnsafeMutablePointer<Int32>?
    private var argmaxCount = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        if spec.node("pool")?.scalar?.uppercased() == "STOCHASTIC" {
            throw spec.error("STOCHASTIC pooling is not supported", at: spec.node("pool"),
                             hint: "Caffe has it on GPUs only (its CPU version is not implemented); use MAX or AVE")
        }
        method = Method(rawValue: try spec.choice("pool", from: Method.allCases.map(\.rawValue), default: "MAX"))!
        globalPooling = try spec.bool("global_pooling", default: false)
        roundsUp = try spec.choice("round_mode", from: ["CEIL", "FLOOR"], default: "CEIL") == "CEIL"
        window = try WindowKeys(spec, kernelRequired: !globalPooling)
    }

    deinit { argmax?.deallocate() }

    public var forwardFLOPs: Int { batch * geometry.channels * pooledH * pooledW * geometry.kernelH * geometry.kernelW }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let input = bottom[0]
        guard input.shape.count == 4 else {
            throw error("expects an N×C×H×W bottom, but '\(input.name)' is \(input.shapeDescription)")
        }
        if globalPooling {
            window.kernelH = input.shape[2]
            window.kernelW = input.shape[3]
        }
        geometry = window.geometry(channels: input.shape[1], height: input.shape[2], width: input.shape[3])
        let g = geometry
        guard g.padH < g.kernelH, g.padW < g.kernelW else {
            throw error("pad (\(g.padH), \(g.padW)) must be smaller than the kernel (\(g.kernelH), \(g.kernelW))")
        }
        guard g.height + 2 * g.padH >= g.kernelH, g.width + 2 * g.padW >= g.kernelW else {
            throw error("the \(g.kernelH)×\(g.kernelW) window is larger than the padded \(g.height)×\(g.width) input '\(input.name)'")
        }
        batch = input.shape[0]
        pooledH = Self.pooledSize(g.height, kernel: g.kernelH, stride: g.strideH, pad: g.padH, roundingUp: roundsUp)
        pooledW = Self.pooledSize(g.width, kernel: g.kernelW, stride: g.strideW, pad: g.padW, roundingUp: roundsUp)
        try top[0].reshape([batch, g.channels, pooledH, pooledW])
        if method == .max {
            argmax?.deallocate()
            argmaxCount = top[0].count
            argmax = .allocate(capacity: argmaxCount)
        }
    }

    /// Caffe's output size: ceil (or, `roundingUp` false, floor) division, minus a last window
    /// that would start in the padding or past the input (its start, (pooled − 1)·stride − pad,
    /// must be below `size`).
    static func pooledSize(_ size: Int, kernel: Int, stride: Int, pad: Int, roundingUp: Bool = true) -> Int {
        var pooled = (size + 2 * pad - kernel + (roundingUp ? stride - 1 : 0)) / stride + 1
        while pooled > 1 && (pooled - 1) * stride >= size + pad { pooled -= 1 }
        return pooled
    }

    /// The input rows and columns window (py, px) covers, clipped to the image, and the size
    /// an average divides by (clipped to the padded image only, as in Caffe).
    @inline(__always)
    private func window(_ py: Int, _ px: Int) -> (ys: Int, ye: Int, xs: Int, xe: Int, size: Int) {
        let g = geometry
        let y0 = py * g.strideH - g.padH, x0 = px * g.strideW - g.padW
        let yEnd = min(y0 + g.kernelH, g.height + g.padH), xEnd = min(x0 + g.kernelW, g.width + g.padW)
        return (max(y0, 0), min(yEnd, g.height), max(x0, 0), min(xEnd, g.width), (yEnd - y0) * (xEnd - x0))
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let width = geometry.width, inArea = geometry.height * width, outArea = pooledH * pooledW
        let input = bottom[0].data, output = top[0].data
        let pooledW = pooledW, pooledH = pooledH
        if channelsLast {
            ChannelsLastPooling(geometry: geometry, batch: batch, pooledH: pooledH, pooledW: pooledW, average: method == .ave).forward(input, output)
            return
        }
        if method == .max {
            if tilesEvenly2x2 {
                maxPool2x2(input, output, winners: valuesOnly ? nil : argmax)
            } else if valuesOnly {
                maxPoolValues(input, output)
            } else {
                maxPool(input, output)
            }
            return
        }
        Parallel.forChunks(of: batch * geometry.channels, minimumPerChunk: 8) { _, planes in
            for plane in planes {
                let source = input + plane * inArea, target = output + plane * outArea
                for py in 0..<pooledH {
                    for px in 0..<pooledW {
                        let w = window(py, px)
                        let out = py * pooledW + px
                        var sum: Float = 0
                        for y in w.ys..<w.ye {
                            for x in w.xs..<w.xe { sum += source[y * width + x] }
                        }
                        target[out] = sum / Float(w.size)
                    }
                }
            }
        }
    }

    /// Max pooling with the winners' positions. A window wholly inside the image (all but the
    /// border ones, and all of them for LeNet's 2×2 stride 2) runs with fixed bounds, and a 2×2
    /// (LeNet's, VGG's) or 3×3 one (GoogLeNet's, ResNet's) unrolled; a border window is clipped
    /// to the image.
    /// Selects rather than branches keep the first maximum: which element wins is unpredictable.
    private func maxPool(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        let g = geometry, width = g.width, inArea = g.height * width, outArea = pooledH * pooledW
        let pooledW = pooledW, pooledH = pooledH, winners = argmax!
        let kernelH = g.kernelH, kernelW = g.kernelW, strideH = g.strideH, strideW = g.strideW
        Parallel.forChunks(of: batch * g.channels, minimumPerChunk: 8) { _, planes in
            for plane in planes {
                let source = input + plane * inArea, target = output + plane * outArea, argmax = winners + plane * outArea
                for py in 0..<pooledH {
                    let y0 = py * strideH - g.padH
                    let ys = max(y0, 0), ye = min(y0 + kernelH, g.height)
                    let rowInside = y0 >= 0 && y0 + kernelH <= g.height
                    for px in 0..<pooledW {
                        let x0 = px * strideW - g.padW
                        var best: Float, bestIndex: Int
                        if rowInside && x0 >= 0 && x0 + kernelW <= width {
                            let corner = y0 * width + x0
                            if kernelH == 2 && kernelW == 2 {
                                (best, bestIndex) = Self.maxOfSquare(source, corner, width, size: 2)
                            } else if kernelH == 3 && kernelW == 3 {
                                (best, bestIndex) = Self.maxOfSquare(source, corner, width, size: 3)
                            } else {
                                (best, bestIndex) = (source[corner], corner)
                                for ky in 0..<kernelH {
                                    let row = corner + ky * width
                                    for kx in 0..<kernelW {
                                        let value = source[row + kx], better = value > best
                                        best = better ? value : best
                                        bestIndex = better ? row + kx : bestIndex
                                    }
                                }
                            }
                        } else {
                            let xs = max(x0, 0), xe = min(x0 + kernelW, width)
                            (best, bestIndex) = (source[ys * width + xs], ys * width + xs)
                            for y in ys..<ye {
                                let row = y * width
                                for x in xs..<xe {
                                    let value = source[row + x], better = value > best
                                    best = better ? value : best
                                    bestIndex = better ? row + x : bestIndex
                                }
                            }
                        }
                        target[py * pooledW + px] = best
                        argmax[py * pooledW + px] = Int32(bestIndex)
                    }
                }
            }
        }
    }

    /// 2×2 windows at stride 2 without padding over an even-sized plane (LeNet's, VGG's): every
    /// window lies inside, and the windows do not overlap.
    private var tilesEvenly2x2: Bool {
        let g = geometry
        return g.kernelH == 2 && g.kernelW == 2 && g.strideH == 2 && g.strideW == 2 && g.padH == 0 && g.padW == 0
            && g.height % 2 == 0 && g.width % 2 == 0
    }

    /// Max pooling of `tilesEvenly2x2` planes, four windows at a time: two 8-float loads take
    /// the four windows' two rows, and the maxima (and, given `winners`, their positions) come
    /// from selects in the order `maxPool` scans, so values and winners are the same as its
    /// (docs/performance.md, "Pooling", has what it saved).
    private func maxPool2x2(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>, winners: UnsafeMutablePointer<Int32>?) {
        let width = geometry.width, inArea = geometry.height * width, pooledW = pooledW, pooledH = pooledH, outArea = pooledH * pooledW
        let lanes: SIMD4<Int32> = [0, 2, 4, 6]
        Parallel.forChunks(of: batch * geometry.channels, minimumPerChunk: 8) { _, planes in
            for plane in planes {
                let source = input + plane &* inArea, target = output + plane &* outArea
                let positions = winners.map { $0 + plane &* outArea }
                for py in 0..<pooledH {
                    let top = source + 2 &* py &* width, bottom = top + width, out = target + py &* pooledW
                    var px = 0
                    while px &+ 4 <= pooledW {
                        let upper = UnsafeRawPointer(top + 2 &* px).loadUnaligned(as: SIMD8<Float>.self)
                        let lower = UnsafeRawPointer(bottom + 2 &* px).loadUnaligned(as: SIMD8<Float>.self)
                        // Per window, in scan order: top-left, top-right, bottom-left, bottom-right.
                        var best = upper.evenHalf
                        if let positions {
                            let topLeft = lanes &+ Int32(truncatingIfNeeded: 2 &* py &* width &+ 2 &* px)
                            var index = topLeft
                            func consider(_ value: SIMD4<Float>, at position: SIMD4<Int32>) {
                                let better = value .> best
                                best.replace(with: value, where: better)
                                index.replace(with: position, where: better)
                            }
                            let bottomLeft = topLeft &+ Int32(truncatingIfNeeded: width)
                            consider(upper.oddHalf, at: topLeft &+ 1)
                            consider(lower.evenHalf, at: bottomLeft)
                            consider(lower.oddHalf, at: bottomLeft &+ 1)
                            UnsafeMutableRawPointer(positions + (py &* pooledW &+ px)).storeBytes(of: index, as: SIMD4<Int32>.self)
                        } else {
                            best.replace(with: upper.oddHalf, where: upper.oddHalf .> best)
                            best.replace(with: lower.evenHalf, where: lower.evenHalf .> best)
                            best.replace(with: lower.oddHalf, where: lower.oddHalf .> best)
                        }
                        UnsafeMutableRawPointer(out + px).storeBytes(of: best, as: SIMD4<Float>.self)
                        px &+= 4
                    }
                    while px < pooledW {
                        let (best, index) = Self.maxOfSquare(source, 2 &* py &* width &+ 2 &* px, width, size: 2)
                        out[px] = best
                        positions?[py &* pooledW &+ px] = Int32(truncatingIfNeeded: index)
                        px &+= 1
                    }
                }
            }
        }
    }

    /// Whether the blobs are laid out N×H×W×C (`ChannelsLastLayout`; inference only, since
    /// backward and forward mode read the winners' planar positions).
    private(set) var channelsLast = false
    package var canUseChannelsLast: Bool { valuesOnly || method == .ave }
    package func useChannelsLast(bottom: Bool, top: Bool) { channelsLast = bottom }

    /// Set by the net's `InPlaceFolding` pass for inference: no backward or tangent will ask where the maxima were.
    private var valuesOnly = false

    /// For a net built for inference: max pooling keeps no winners' positions from now on.
    package func keepOnlyValues() {
        valuesOnly = true
        argmax?.deallocate()
        argmax = nil
    }

    /// Max pooling without the winners' positions (inference). For each input row of a
    /// window row, the windows wholly inside the row's width take it one kernel column at a
    /// time across all of them, which runs over contiguous memory at stride 1 and vectorises;
    /// the border windows are clipped. Each output sees its window's values in the same order
    /// as `maxPool`, so the values are the same (NaN aside: a leading NaN does not win here).
    private func maxPoolValues(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        let g = geometry, width = g.width, inArea = g.height * width, outArea = pooledH * pooledW
        let pooledW = pooledW, pooledH = pooledH
        let kernelH = g.kernelH, kernelW = g.kernelW, strideH = g.strideH, strideW = g.strideW, padW = g.padW
        // Outputs whose windows lie inside the columns: px·stride − pad ≥ 0 and + kernel ≤ width.
        let first = min(pooledW, (padW + strideW - 1) / strideW)
        let end = max(first, min(pooledW, width - kernelW + padW >= 0 ? (width - kernelW + padW) / strideW + 1 : 0))
        Parallel.forChunks(of: batch * g.channels, minimumPerChunk: 8) { _, planes in
            for plane in planes {
                let source = input + plane * inArea, target = output + plane * outArea
                for py in 0..<pooledH {
                    let y0 = py * strideH - g.padH
                    let out = target + py * pooledW
                    for px in 0..<pooledW { out[px] = -Float.infinity }
                    for y in max(y0, 0)..<min(y0 + kernelH, g.height) {
                        let row = source + y * width
                        func clipped(_ outputs: Range<Int>) {
                            for px in outputs {
                                let x0 = px * strideW - padW
                                var best = out[px]
                                for x in max(x0, 0)..<min(x0 + kernelW, width) {
                                    let value = row[x]
                                    best = value > best ? value : best
                                }
                                out[px] = best
                            }
                        }
                        clipped(0..<first)
                        clipped(end..<pooledW)
                        for kx in 0..<kernelW {
                            let shifted = row + kx - padW
                            if strideW == 1 {  // contiguous: a loop the compiler vectorises (GoogLeNet's inception pools)
                                for px in first..<end {
                                    let value = shifted[px], best = out[px]
                                    out[px] = value > best ? value : best
                                }
                            } else {
                                for px in first..<end {
                                    let value = shifted[px * strideW], best = out[px]
                                    out[px] = value > best ? value : best
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The maximum of the size×size window at `corner` and its position, scanning rows in
    /// order. Called with a literal size (2 or 3), so that the inlined loops unroll.
    @inline(__always)
    private static func maxOfSquare(_ source: UnsafeMutablePointer<Float>, _ corner: Int, _ width: Int, size: Int) -> (Float, Int) {
        var best = source[corner], bestIndex = corner
        for ky in 0..<size {
            for kx in 0..<size {
                let index = corner + ky * width + kx, value = source[index], better = value > best
                best = better ? value : best
                bestIndex = better ? index : bestIndex
            }
        }
        return (best, bestIndex)
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let width = geometry.width, inArea = geometry.height * width, outArea = pooledH * pooledW
        let inputDiff = bottom[0].diff, outputDiff = top[0].diff, argmax = argmax
        let pooledW = pooledW, pooledH = pooledH, method = method
        Parallel.forChunks(of: batch * geometry.channels, minimumPerChunk: 8) { _, planes in
            for plane in planes {
                let target = inputDiff + plane * inArea, source = outputDiff + plane * outArea
                for i in 0..<inArea { target[i] = 0 }
                if method == .max {
                    let winners = argmax! + plane * outArea
                    for out in 0..<outArea { target[Int(winners[out])] += source[out] }
                    continue
                }
                for py in 0..<pooledH {
                    for px in 0..<pooledW {
                        let w = window(py, px)
                        let share = source[py * pooledW + px] / Float(w.size)
                        for y in w.ys..<w.ye {
                            for x in w.xs..<w.xe { target[y * width + x] += share }
                        }
                    }
                }
            }
        }
    }

    /// MAX: each output's tangent is its window winner's, as forward chose it. AVE is linear:
    /// the tangent is the average of the window's tangents, which forward computes.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {
        guard method == .max, let argmax else {
            forward(bottom: bottomTangent, top: topTangent)
            return
        }
        let inArea = geometry.height * geometry.width, outArea = pooledH * pooledW
        let input = bottomTangent[0].data, output = topTangent[0].data
        Parallel.forChunks(of: batch * geometry.channels, minimumPerChunk: 8) { _, planes in
            for plane in planes {
                let source = input + plane * inArea, target = output + plane * outArea, winners = argmax + plane * outArea
                for out in 0..<outArea { target[out] = source[Int(winners[out])] }
            }
        }
    }
}

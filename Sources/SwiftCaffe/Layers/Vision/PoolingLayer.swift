/// Max or average pooling over N×C×H×W bottoms with Caffe's semantics: output size rounds up
/// (`ceil`), a window that would start inside the bottom/right padding is dropped, and an
/// average divides by the window's size clipped to the padded image (padding counts, the
/// area beyond it does not). `global_pooling: true` pools each whole plane to 1×1.
public final class PoolingLayer: Layer {
    public enum Method: String, CaseIterable { case max = "MAX", ave = "AVE" }

    public let spec: LayerSpec
    public var params: [Blob] = []
    let method: Method
    let globalPooling: Bool
    var window: WindowKeys
    private var geometry = WindowGeometry(channels: 0, height: 0, width: 0, kernelH: 0, kernelW: 0)
    private var pooledH = 0, pooledW = 0, batch = 0
    /// For max pooling, the index within the input plane that won each output.
    private var argmax: UnsafeMutablePointer<Int32>?
    private var argmaxCount = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        method = Method(rawValue: try spec.choice("pool", from: Method.allCases.map(\.rawValue), default: "MAX"))!
        globalPooling = try spec.bool("global_pooling", default: false)
        window = try WindowKeys(spec, kernelRequired: !globalPooling)
    }

    deinit { argmax?.deallocate() }

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
        pooledH = Self.pooledSize(g.height, kernel: g.kernelH, stride: g.strideH, pad: g.padH)
        pooledW = Self.pooledSize(g.width, kernel: g.kernelW, stride: g.strideW, pad: g.padW)
        top[0].reshape([batch, g.channels, pooledH, pooledW])
        if method == .max {
            argmax?.deallocate()
            argmaxCount = top[0].count
            argmax = .allocate(capacity: argmaxCount)
        }
    }

    /// Caffe's output size: ceil division, minus a last window that would start in the padding.
    static func pooledSize(_ size: Int, kernel: Int, stride: Int, pad: Int) -> Int {
        var pooled = (size + 2 * pad - kernel + stride - 1) / stride + 1
        if pad > 0 && (pooled - 1) * stride >= size + pad { pooled -= 1 }
        return pooled
    }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        let g = geometry
        let planes = batch * g.channels
        let inArea = g.height * g.width, outArea = pooledH * pooledW
        let input = bottom[0].data, output = top[0].data
        for plane in 0..<planes {
            let source = input + plane * inArea
            let target = output + plane * outArea
            for py in 0..<pooledH {
                let y0 = py * g.strideH - g.padH
                let yEnd = min(y0 + g.kernelH, g.height + g.padH)
                let ys = max(y0, 0), ye = min(yEnd, g.height)
                for px in 0..<pooledW {
                    let x0 = px * g.strideW - g.padW
                    let xEnd = min(x0 + g.kernelW, g.width + g.padW)
                    let xs = max(x0, 0), xe = min(xEnd, g.width)
                    let out = py * pooledW + px
                    switch method {
                    case .max:
                        var best = -Float.greatestFiniteMagnitude
                        var bestIndex = -1
                        for y in ys..<ye {
                            for x in xs..<xe where source[y * g.width + x] > best || bestIndex < 0 {
                                best = source[y * g.width + x]
                                bestIndex = y * g.width + x
                            }
                        }
                        target[out] = best
                        argmax![plane * outArea + out] = Int32(bestIndex)
                    case .ave:
                        let poolSize = Float((yEnd - y0) * (xEnd - x0))
                        var sum: Float = 0
                        for y in ys..<ye {
                            for x in xs..<xe { sum += source[y * g.width + x] }
                        }
                        target[out] = sum / poolSize
                    }
                }
            }
        }
        return 0
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        guard bottom[0].needsGradient else { return }
        let g = geometry
        let planes = batch * g.channels
        let inArea = g.height * g.width, outArea = pooledH * pooledW
        let inputDiff = bottom[0].diff, outputDiff = top[0].diff
        inputDiff.update(repeating: 0, count: bottom[0].count)
        for plane in 0..<planes {
            let target = inputDiff + plane * inArea
            let source = outputDiff + plane * outArea
            switch method {
            case .max:
                let winners = argmax! + plane * outArea
                for out in 0..<outArea { target[Int(winners[out])] += source[out] }
            case .ave:
                for py in 0..<pooledH {
                    let y0 = py * g.strideH - g.padH
                    let yEnd = min(y0 + g.kernelH, g.height + g.padH)
                    let ys = max(y0, 0), ye = min(yEnd, g.height)
                    for px in 0..<pooledW {
                        let x0 = px * g.strideW - g.padW
                        let xEnd = min(x0 + g.kernelW, g.width + g.padW)
                        let xs = max(x0, 0), xe = min(xEnd, g.width)
                        let share = source[py * pooledW + px] / Float((yEnd - y0) * (xEnd - x0))
                        for y in ys..<ye {
                            for x in xs..<xe { target[y * g.width + x] += share }
                        }
                    }
                }
            }
        }
    }
}

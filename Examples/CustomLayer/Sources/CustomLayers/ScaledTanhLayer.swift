import Foundation
import ONNXInterop
import SwiftCaffe

/// y = a_c · tanh(b_c · x): a tanh whose output scale a and input slope b are learned, one
/// pair per channel (axis 1), or one pair for the whole blob with `channel_shared: true`.
///
/// Keys: `channel_shared` (false), `scale_filler` (constant 1), `slope_filler` (constant 1).
/// Reading them through `spec` is all the validation the layer needs: a typo, a wrong type or
/// an unknown key is reported by SwiftCaffe with the file, line and column.
public final class ScaledTanhLayer: Layer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var supportsInPlace: Bool { false }
    let channelShared: Bool
    let scaleFiller: FillerSpec
    let slopeFiller: FillerSpec
    let context: LayerContext
    private var channels = 1, inner = 1, outer = 1
    /// The bottom's axes after the channels (for the ONNX writer's broadcast shape).
    private var trailingAxes = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        self.context = context
        channelShared = try spec.bool("channel_shared", default: false)
        scaleFiller = try spec.filler("scale_filler", default: FillerSpec(.constant, value: 1))
        slopeFiller = try spec.filler("slope_filler", default: FillerSpec(.constant, value: 1))
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let input = bottom[0]
        guard input.shape.count >= 2 || channelShared else {
            throw error("needs an N×C×... bottom for per-channel parameters, but '\(input.name)' is \(input.shapeDescription)",
                        hint: "set channel_shared: true")
        }
        channels = channelShared ? 1 : input.shape[1]
        outer = input.shape.first ?? 1
        inner = input.count / max(outer * channels, 1)
        trailingAxes = max(input.shape.count - 2, 0)
        params = [try context.parameter(name, "scale", shape: [channels], filler: scaleFiller),
                  try context.parameter(name, "slope", shape: [channels], filler: slopeFiller)]
        try top[0].reshape(input.shape)
    }

    @inline(__always) private func channel(of index: Int) -> Int { channelShared ? 0 : (index / inner) % channels }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, a = params[0].data, b = params[1].data
        for i in 0..<bottom[0].count {
            let c = channel(of: i)
            y[i] = a[c] * tanh(b[c] * x[i])
        }
    }

    /// With t = tanh(b·x): ∂y/∂a = t, ∂y/∂b = a·x·(1−t²), ∂y/∂x = a·b·(1−t²).
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {
        let x = bottom[0].data, dy = top[0].diff, a = params[0].data, b = params[1].data
        let da = params[0].diff, db = params[1].diff
        let dx = bottom[0].needsGradient ? bottom[0].diff : nil
        for i in 0..<bottom[0].count {
            let c = channel(of: i)
            let t = tanh(b[c] * x[i]), slope = 1 - t * t
            da[c] += dy[i] * t
            db[c] += dy[i] * a[c] * x[i] * slope
            dx?[i] = dy[i] * a[c] * b[c] * slope
        }
    }
}

/// Registers this package's layers, and how `convert net.yaml model.onnx` writes them; call
/// before building a net or running the command line.
public func registerCustomLayers() {
    LayerRegistry.register(ScaledTanhLayer.self, as: "ScaledTanh")
    ONNXExport.register("ScaledTanh", ScaledTanhLayer.writeONNX)
}

extension ScaledTanhLayer {
    /// a · tanh(b · x) as ONNX's Mul, Tanh, Mul, with a and b shaped to broadcast over the
    /// channel axis (C×1×…×1), or one value each when channel_shared.
    static func writeONNX(_ layer: any Layer, _ inputs: [String], _ writer: inout ONNXGraphWriter) throws {
        let layer = layer as! ScaledTanhLayer, name = layer.name, top = layer.spec.tops[0]
        let shape = layer.channelShared ? [1] : [layer.channels] + Array(repeating: 1, count: layer.trailingAxes)
        let slope = writer.constant(name + ".slope", shape, layer.params[1].dataArray)
        let scale = writer.constant(name + ".scale", shape, layer.params[0].dataArray)
        let product = writer.define(top + "_product"), squashed = writer.define(top + "_tanh")
        writer.node("Mul", name + "_slope", [inputs[0], slope], product)
        writer.node("Tanh", name + "_tanh", [product], squashed)
        writer.node("Mul", name, [squashed, scale], writer.define(top))
    }
}

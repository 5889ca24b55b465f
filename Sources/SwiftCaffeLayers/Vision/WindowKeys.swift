import SwiftCaffeCore
import SwiftCaffeSpec

/// The sliding-window keys that Convolution and Pooling share, read with Caffe's rules:
/// `kernel_size`, `stride` and `pad` for both axes (one value, or Caffe's repeated form, one
/// value per spatial axis: `kernel_size: [3, 5]` is 3 high, 5 wide), or `kernel_h`/`kernel_w`,
/// `stride_h`/`stride_w`, `pad_h`/`pad_w` for one axis each (not both forms at once).
package struct WindowKeys {
    package var kernelH = 0, kernelW = 0
    package var strideH = 1, strideW = 1
    package var padH = 0, padW = 0
    package var dilationH = 1, dilationW = 1

    /// `dilated`: also read `dilation` (Convolution's, not Pooling's).
    package init(_ spec: LayerSpec, kernelRequired: Bool, dilated: Bool = false) throws {
        (kernelH, kernelW) = try Self.pair(spec, "kernel_size", "kernel_h", "kernel_w", default: kernelRequired ? nil : 0, minimum: 1)
        (strideH, strideW) = try Self.pair(spec, "stride", "stride_h", "stride_w", default: 1, minimum: 1)
        (padH, padW) = try Self.pair(spec, "pad", "pad_h", "pad_w", default: 0, minimum: 0)
        if dilated {
            (dilationH, dilationW) = try Self.pair(spec, "dilation", nil, nil, default: 1, minimum: 1)
        }
    }

    private static func pair(_ spec: LayerSpec, _ both: String, _ h: String?, _ w: String?,
                             default fallback: Int?, minimum: Int) throws -> (Int, Int) {
        let range = minimum...Int(Int32.max)
        let values = try spec.intList(both, in: range)
        guard values.count <= 2 else {
            throw spec.error("'\(both)' has \(values.count) values; 2-D windows take one, or one per axis (height, width)", at: spec.node(both))
        }
        let height = try h.flatMap { try spec.optionalInt($0, in: range) }
        let width = try w.flatMap { try spec.optionalInt($0, in: range) }
        if let h, let w, !values.isEmpty && (height != nil || width != nil) {
            throw spec.error("give either '\(both)' or '\(h)'/'\(w)', not both", at: spec.node(h) ?? spec.node(w))
        }
        if let h, let w, (height == nil) != (width == nil) {
            throw spec.error("'\(h)' and '\(w)' go together", hint: "add '\(height == nil ? h : w)'")
        }
        if let first = values.first { return (first, values.last!) }
        if let height, let width { return (height, width) }
        guard let fallback else { throw spec.missing(both, "whole number") }
        return (fallback, fallback)
    }

    func geometry(channels: Int, height: Int, width: Int) -> WindowGeometry {
        WindowGeometry(channels: channels, height: height, width: width, kernelH: kernelH, kernelW: kernelW,
                       strideH: strideH, strideW: strideW, padH: padH, padW: padW, dilationH: dilationH, dilationW: dilationW)
    }
}

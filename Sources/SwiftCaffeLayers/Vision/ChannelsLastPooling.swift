import CMachine
import SwiftCaffeCore

/// Pooling over an N×H×W×C blob into an N×H×W×C top, for an inference net that keeps the
/// blobs between its convolutions channels-last (`ChannelsLastLayout`).
///
/// In this layout a window's values for all channels of a position lie side by side, so
/// each output position is a running maximum (or sum) of whole rows of C floats: loops the
/// compiler vectorises with no edge cases, whatever the kernel, stride and plane size. The
/// planar path instead works one small plane at a time (GoogLeNet's 3×3 stride-1 pools run
/// over 14×14 planes). Each channel sees its window's values in the order `PoolingLayer`
/// scans them, with the same operations, so the values are the same bits (NaN aside, as in
/// its values-only path).
struct ChannelsLastPooling {
    var geometry: WindowGeometry
    var batch, pooledH, pooledW: Int
    var average: Bool

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        let g = geometry, channels = g.channels, pooledH = pooledH, pooledW = pooledW, average = average
        Parallel.forChunks(of: batch * pooledH, minimumPerChunk: 1) { _, rows in
            for row in rows {
                let image = row / pooledH, py = row % pooledH
                let source = input + image * g.height * g.width * channels
                let y0 = py * g.strideH - g.padH, yEnd = min(y0 + g.kernelH, g.height + g.padH)
                let ys = max(y0, 0), ye = min(yEnd, g.height)
                for px in 0..<pooledW {
                    let out = output + (row * pooledW + px) * channels
                    let x0 = px * g.strideW - g.padW, xEnd = min(x0 + g.kernelW, g.width + g.padW)
                    let xs = max(x0, 0), xe = min(xEnd, g.width)
                    out.update(repeating: average ? 0 : -Float.infinity, count: channels)
                    for y in ys..<ye {
                        for x in xs..<xe {
                            let values = source + (y * g.width + x) * channels
                            if average { swiftcaffe_add_into(out, values, channels) } else { swiftcaffe_max_into(out, values, channels) }
                        }
                    }
                    if average {
                        // The window clipped to the padded image, as in Caffe.
                        let size = Float((yEnd - y0) * (xEnd - x0))
                        for c in 0..<channels { out[c] = out[c] / size }
                    }
                }
            }
        }
    }
}

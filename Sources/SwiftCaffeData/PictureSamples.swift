import SwiftCaffeIO

/// Pictures as samples: a decoded picture's planes in Caffe's order, and through a data
/// layer's transform (how `classify` prepares a picture as the net's test phase would).
extension RasterImage {
    /// The pixels as C×H×W planes, in BGR order for colour (Caffe's order) unless `bgr` is false.
    package func planes(bgr: Bool = true) -> [UInt8] {
        let plane = width * height
        var output = [UInt8](repeating: 0, count: channels * plane)
        for c in 0..<channels {
            let from = channels == 3 && bgr ? 2 - c : c
            for i in 0..<plane { output[c * plane + i] = pixels[i * channels + from] }
        }
        return output
    }
}

extension DataTransform {
    /// `image`, resized to `height`×`width`, through this transform into `output`.
    package func apply(_ image: RasterImage, height: Int, width: Int, bgr: Bool = true, into output: UnsafeMutablePointer<Float>) {
        let planes = image.resized(width: width, height: height).planes(bgr: bgr)
        planes.withUnsafeBufferPointer { apply($0.baseAddress!, channels: image.channels, height: height, width: width, into: output, draw: 0) }
    }
}

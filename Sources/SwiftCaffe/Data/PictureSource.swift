/// A data layer that serves pictures, and so can turn any one picture into a sample exactly
/// as it serves one in the test phase: its size (resizing the picture), its channels and
/// their order, its transform (centre crop, mean, scale). `classify` and `jvp --input` feed a
/// net through it, as Caffe's classification example reads the transform from the net.
public protocol PictureSource: Layer {
    /// 1 (gray) or 3 (colour): how to decode a picture for this layer.
    var pictureChannels: Int { get }
    /// Writes `image` (already decoded with `pictureChannels`) as one sample of the layer's
    /// first top into `output`.
    func sample(from image: RasterImage, into output: UnsafeMutablePointer<Float>)
}

extension RasterImage {
    /// The pixels as C×H×W planes, in BGR order for colour (Caffe's order) unless `bgr` is false.
    func planes(bgr: Bool = true) -> [UInt8] {
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
    func apply(_ image: RasterImage, height: Int, width: Int, bgr: Bool = true, into output: UnsafeMutablePointer<Float>) {
        let planes = image.resized(width: width, height: height).planes(bgr: bgr)
        planes.withUnsafeBufferPointer { apply($0.baseAddress!, channels: image.channels, height: height, width: width, into: output, draw: 0) }
    }
}

import SwiftCaffeIO

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

import SwiftCaffeCore
import SwiftCaffeData
import SwiftCaffeIO
import SwiftCaffeSpec

/// Tops of fixed shapes that the caller fills (Caffe's `Input`, for deploy nets and tests):
/// `shape: [1, 1, 28, 28]` for every top, or one shape per top as a list of lists.
///
/// When `classify` or `jvp --input` feed it a picture (N×1×H×W or N×3×H×W, BGR), the picture
/// is resized to H×W and scaled by two keys that Caffe's Input does not have, but that a
/// deploy net needs to say how its pictures were prepared in training: `scale` and
/// `mean_value` or `mean_file`, as on the data layers (value = (pixel − mean) × scale). In a
/// prototxt they are written in a `transform_param`, which Caffe's Input ignores.
public final class InputLayer: Layer, PictureSource {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 0...0 }
    public static var topCount: ClosedRange<Int> { 1...Int.max }
    let shapes: [[Int]]
    let transform: DataTransform

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        let items = spec.list("shape")
        guard !items.isEmpty else { throw spec.missing("shape", "list of dimensions") }
        if items.allSatisfy({ $0.sequence != nil }) {
            shapes = try items.map { item in try item.sequence!.map { try SpecMapping.int($0, key: "shape", in: 1...Int(Int32.max), owner: spec) } }
        } else {
            shapes = [try spec.intList("shape", in: 1...Int(Int32.max))]
        }
        transform = try DataTransform(spec, phase: .test, seed: context.seed)
        if transform.cropSize > 0 || transform.mirror || transform.pad > 0 || transform.cutout > 0 {
            throw spec.error("an Input layer takes only 'scale', 'mean_value' and 'mean_file' for the pictures fed to it", hint: "remove crop_size, mirror, pad and cutout")
        }
    }

    public var pictureChannels: Int { shapes[0].count == 4 && shapes[0][1] == 3 ? 3 : 1 }

    public func sample(from image: RasterImage, into output: UnsafeMutablePointer<Float>) {
        let shape = shapes[0]
        transform.apply(image, height: shape.count >= 4 ? shape[2] : 1, width: shape.last ?? 1, into: output)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard shapes.count == 1 || shapes.count == top.count else {
            throw error("\(shapes.count) shapes for \(top.count) tops", hint: "give one shape, or one per top")
        }
        for (index, blob) in top.enumerated() {
            try blob.reshape(shapes[shapes.count == 1 ? 0 : index])
        }
        // A picture fed to the first top is transformed at its shape: a mean image or means of
        // another size are refused here, not read out of bounds then.
        if shapes[0].count == 4 {
            _ = try transform.outputShape(channels: shapes[0][1], height: shapes[0][2], width: shapes[0][3])
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {}
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}
}

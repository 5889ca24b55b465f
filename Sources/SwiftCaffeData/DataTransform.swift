import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeSpec

/// What a data layer does to each sample between the file and the net: Caffe's
/// `transform_param` (its keys flattened into the layer, as every `*_param` is) and two
/// modern augmentations.
///
/// - `scale` (1) and `mean_value` (one value, or one per channel): value = (pixel − mean) × scale.
/// - `mean_file`: a mean image (Caffe's `.binaryproto`, 1×C×H×W at the stored sample size)
///   subtracted pixel by pixel before cropping, as Caffe does; padding stays 0.
/// - `crop_size`: a square of that side, at a random place in training and in the centre in
///   testing.
/// - `mirror`: a horizontal flip with probability ½, in training only.
/// - `pad`: zero pixels added round the sample before cropping (random-crop-with-padding, the
///   standard CIFAR and Fashion-MNIST augmentation). It needs `crop_size`.
/// - `cutout`: a square of that side erased to 0 (the mean, after normalisation) at a random
///   centre, in training only (DeVries & Taylor, 2017). It may hang over the edge.
///
/// The random draws of a sample come from a generator seeded by the layer's stream and the
/// sample's serial number in the data order (`SampleOrder.lastDraw`), not from a generator
/// carried along: so they need no saving for `--resume`, do not depend on which thread
/// prepares the batch (prefetching), and a data-parallel rank draws for its samples what one
/// process would.
package struct DataTransform: Sendable {
    package let scale: Float
    let meanValues: [Float]
    /// The `mean_file` image, C×H×W, and where it was named (for the size check in `outputShape`).
    let meanImage: Safetensors.Tensor?
    let meanFile: String?
    package let cropSize: Int
    package let mirror: Bool
    package let pad: Int
    package let cutout: Int
    /// Random crops, flips and cutout happen in training; testing takes the centre, unflipped.
    let training: Bool
    let seed: UInt64

    /// The transform `spec`'s keys describe, for a layer of the `phase` net of a run seeded with `seed`.
    package init(_ spec: LayerSpec, phase: Phase, seed runSeed: UInt64) throws {
        scale = try spec.float("scale", default: 1)
        meanValues = try spec.floatList("mean_value")
        meanFile = spec.has("mean_file") ? try spec.path("mean_file") : nil
        if let meanFile {
            if !meanValues.isEmpty {
                throw spec.error("both 'mean_file' and 'mean_value'", at: spec.node("mean_value"), hint: "keep one (Caffe refuses both too)")
            }
            do {
                meanImage = try Self.readMean(meanFile)
            } catch let error as SwiftCaffeError {
                throw spec.error("mean_file: \(error.message)", at: spec.node("mean_file"), hint: error.hint)
            }
        } else {
            meanImage = nil
        }
        cropSize = try spec.int("crop_size", default: 0, in: 0...65_536)
        mirror = try spec.bool("mirror", default: false)
        pad = try spec.int("pad", default: 0, in: 0...1024)
        cutout = try spec.int("cutout", default: 0, in: 0...65_536)
        training = phase == .train
        var stream = RandomGenerator(seed: runSeed, stream: "\(spec.name)/transform")
        seed = stream.next()
        if pad > 0 && cropSize == 0 {
            throw spec.error("'pad' without 'crop_size' only makes the samples larger", at: spec.node("pad"),
                             hint: "add 'crop_size' (the sample's own size, for pad-and-crop augmentation)")
        }
    }

    /// The mean image of a tensor file: its only tensor, or the one named `mean`.
    static func readMean(_ path: String) throws -> Safetensors.Tensor {
        let file = try TensorFiles.read(path)
        if file.tensors.count == 1 { return file.tensors[0].tensor }
        guard let mean = file.byName["mean"] else {
            throw SwiftCaffeError("'\(path)' holds \(file.tensors.count) tensors and none named 'mean'",
                                      hint: "a mean file holds one tensor (Caffe's .binaryproto, or a .safetensors or .npy file)")
        }
        return mean
    }

    /// Whether the transform changes nothing but the scale (the data layer's fast path).
    package var isScaleOnly: Bool { meanValues.isEmpty && meanImage == nil && cropSize == 0 && !mirror && pad == 0 && cutout == 0 }

    /// The shape of a transformed sample of `channels`×`height`×`width`, or an error when it
    /// cannot be (a crop larger than the padded sample, means for other channels).
    package func outputShape(channels: Int, height: Int, width: Int) throws -> [Int] {
        if !meanValues.isEmpty && meanValues.count != 1 && meanValues.count != channels {
            throw SwiftCaffeError("\(meanValues.count) 'mean_value's for \(channels)-channel samples",
                                  hint: "give one mean for all channels, or one per channel")
        }
        if let meanImage {
            let shape = Array(meanImage.shape.drop { $0 == 1 && meanImage.shape.count > 3 })
            guard shape.count == 3 ? shape == [channels, height, width] : meanImage.values.count == channels * height * width && channels == 1 else {
                throw SwiftCaffeError("the mean_file '\(meanFile ?? "")' is \(meanImage.shape.map(String.init).joined(separator: "×")), the samples \(channels)×\(height)×\(width)",
                                      hint: "compute the mean from this data set at this size (swiftcaffe compute-image-mean)")
            }
        }
        guard cropSize > 0 else { return [channels, height, width] }
        guard cropSize <= height + 2 * pad && cropSize <= width + 2 * pad else {
            throw SwiftCaffeError("crop_size \(cropSize) is larger than the \(height)×\(width) samples\(pad > 0 ? " padded by \(pad)" : "")",
                                  hint: "use a crop_size up to \(min(height, width) + 2 * pad)")
        }
        return [channels, cropSize, cropSize]
    }

    /// Transforms the sample `source` (C×H×W bytes or floats) into `output` (C×h×w, the
    /// `outputShape`), drawing its random choices from the sample's serial number `draw`.
    package func apply<Pixel: TransformPixel>(_ source: UnsafePointer<Pixel>, channels: Int, height: Int, width: Int,
               into output: UnsafeMutablePointer<Float>, draw: UInt64) {
        let outHeight = cropSize > 0 ? cropSize : height, outWidth = cropSize > 0 ? cropSize : width
        var rng = RandomGenerator(seed: seed ^ (draw &* 0x9E37_79B9_7F4A_7C15))
        var top = 0, left = 0
        if cropSize > 0 {
            let spareRows = height + 2 * pad - cropSize, spareColumns = width + 2 * pad - cropSize
            if training {
                top = Int(rng.next() % UInt64(spareRows + 1))
                left = Int(rng.next() % UInt64(spareColumns + 1))
            } else {
                top = spareRows / 2
                left = spareColumns / 2
            }
        }
        let flip = training && mirror && rng.next() % 2 == 1
        let meanPixels = meanImage?.values ?? []
        meanPixels.withUnsafeBufferPointer { meanBuffer in
            for c in 0..<channels {
                let mean = meanValues.isEmpty ? 0 : meanValues[meanValues.count == 1 ? 0 : c]
                let plane = source + c * height * width
                let meanPlane = meanBuffer.isEmpty ? nil : meanBuffer.baseAddress! + c * height * width
                let target = output + c * outHeight * outWidth
                for y in 0..<outHeight {
                    let sourceRow = y + top - pad
                    let rowInside = sourceRow >= 0 && sourceRow < height
                    for x in 0..<outWidth {
                        let sourceColumn = (flip ? outWidth - 1 - x : x) + left - pad
                        guard rowInside && sourceColumn >= 0 && sourceColumn < width else {
                            target[y * outWidth + x] = (0 - mean) * scale
                            continue
                        }
                        let index = sourceRow * width + sourceColumn
                        let pixel = plane[index].floatValue - (meanPlane?[index] ?? 0)
                        target[y * outWidth + x] = (pixel - mean) * scale
                    }
                }
            }
        }
        if training && cutout > 0 {
            let centreY = Int(rng.next() % UInt64(outHeight)), centreX = Int(rng.next() % UInt64(outWidth))
            let rows = max(0, centreY - cutout / 2)..<min(outHeight, centreY - cutout / 2 + cutout)
            let columns = max(0, centreX - cutout / 2)..<min(outWidth, centreX - cutout / 2 + cutout)
            for c in 0..<channels {
                for y in rows { for x in columns { output[(c * outHeight + y) * outWidth + x] = 0 } }
            }
        }
    }
}

/// A stored sample value the transform reads: a byte (pictures, IDX files, uint8 Datums) or a
/// float (Caffe's `float_data` Datums).
package protocol TransformPixel {
    var floatValue: Float { get }
}

extension UInt8: TransformPixel {
    package var floatValue: Float { Float(self) }
}

extension Float: TransformPixel {
    package var floatValue: Float { self }
}

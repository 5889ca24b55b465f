import ArgumentParser
import CaffeInterop
import Foundation
import SwiftCaffe

/// `swiftcaffe convert-imageset`: Caffe's `convert_imageset`, a list of images into the LMDB
/// database of Datums that the `Data` layer reads.
struct ConvertImagesetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert-imageset",
        abstract: "Write the images of a list file into an LMDB database for the Data layer (Caffe's convert_imageset).",
        discussion: """
        LIST holds 'path label' lines; paths are relative to ROOT. Records are keyed
        '%08d_<path>' in list order (or shuffled), each a Datum of the pixels (C×H×W,
        BGR) or, with --encoded, of the PNG/JPEG file itself.

        Example:
          swiftcaffe convert-imageset data/fashion-png/train/list.txt \\
              data/fashion-png/train data/fashion_train_lmdb --gray
        """
    )

    @Argument(help: "The list file.")
    var list: String

    @Argument(help: "The folder the list's paths are relative to.")
    var root: String

    @Argument(help: "The database folder to create (new or empty).")
    var database: String

    @Option(name: [.customLong("resize-height"), .customLong("resize_height")], help: "Resize every image to this height (with --resize-width).")
    var resizeHeight: Int = 0

    @Option(name: [.customLong("resize-width"), .customLong("resize_width")], help: "Resize every image to this width (with --resize-height).")
    var resizeWidth: Int = 0

    @Flag(help: "Write the images in a random order (seeded by --seed).")
    var shuffle = false

    @Option(help: "The seed of --shuffle.")
    var seed: UInt64 = 1

    @Flag(help: "Read the images as gray.")
    var gray = false

    @Flag(help: "Store the image files (PNG when resized) rather than their pixels.")
    var encoded = false

    func validate() throws {
        if !(0...65_536).contains(resizeHeight) || !(0...65_536).contains(resizeWidth) {
            throw ValidationError("--resize-height and --resize-width must be between 0 and 65536")
        }
    }

    func run() throws {
        try reportingErrors {
            var options = ImageSetDatabase.Options()
            (options.resizeHeight, options.resizeWidth) = (resizeHeight, resizeWidth)
            (options.shuffle, options.seed, options.gray, options.encoded) = (shuffle, seed, gray, encoded)
            let live = isatty(1) != 0
            let count = try ImageSetDatabase.convert(list: list, rootFolder: root, to: database, options: options) { done, total in
                if live { print("\r\(done)/\(total) images", terminator: ""); fflush(nil) }
            }
            if live { print("") }
            printLine("wrote \(count) records to \(database)")
        }
    }
}

/// `swiftcaffe compute-image-mean`: Caffe's `compute_image_mean`, a database's mean image as a
/// `.binaryproto` for `mean_file`.
struct ComputeImageMeanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compute-image-mean",
        abstract: "Write the mean image of an LMDB database as a .binaryproto for mean_file (Caffe's compute_image_mean)."
    )

    @Argument(help: "The LMDB database folder.")
    var database: String

    @Argument(help: "The .binaryproto to write.")
    var output: String

    func run() throws {
        try reportingErrors {
            let mean = try ImageSetDatabase.mean(of: database)
            try AtomicFile.write(try BinaryProto.encode(mean), to: output)
            let average = mean.values.reduce(0, +) / Float(max(mean.values.count, 1))
            printLine("wrote \(output): \(mean.shape.map(String.init).joined(separator: "×")), mean value \(String(format: "%.3f", average))")
        }
    }
}

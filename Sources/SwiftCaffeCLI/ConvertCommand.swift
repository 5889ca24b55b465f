import ArgumentParser
import Foundation
import SwiftCaffe

/// `swiftcaffe convert`: data sets from one form into another. Today: an IDX pair (MNIST's
/// format) into a folder of images and the list file ImageData reads.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write an IDX data set as a folder of PNG (or JPEG) images and a list file for ImageData.",
        discussion: """
        Writes FOLDER/images/<n>.png and FOLDER/list.txt ('images/<n>.png <label>' lines), e.g.
          swiftcaffe convert /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz data/fashion-png/train \\
              --labels /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz
        """
    )

    @Argument(help: "The IDX images file (.gz or plain).")
    var images: String

    @Argument(help: "The folder to write.")
    var folder: String

    @Option(help: "The IDX labels file.")
    var labels: String

    @Option(help: "png (lossless) or jpg.")
    var format: String = "png"

    func validate() throws {
        if !["png", "jpg"].contains(format) { throw ValidationError("--format must be png or jpg") }
    }

    func run() throws {
        try reportingErrors {
            let live = isatty(1) != 0
            let list = try ImageFolder.write(images: images, labels: labels, to: folder, format: format) { done, total in
                if live { print("\r\(done)/\(total) images", terminator: ""); fflush(nil) }
            }
            if live { print("") }
            printLine("wrote \(list)")
        }
    }
}

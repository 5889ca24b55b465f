import Foundation
import SwiftCaffeCore
import SwiftCaffeIO

/// An IDX data set (MNIST's format) written out as a folder of image files and the list file
/// that `ImageData` reads: so every user has an image data set to try, and so a net can be
/// trained from pictures and from the IDX files and the two compared.
public enum ImageFolder {
    /// Writes image i of `images` (N×H×W gray, or N×C×H×W with C = 1 or 3, planes taken as
    /// R, G, B) to `folder/images/<i>.<format>` and a line `images/<i>.<format> <label>` to
    /// `folder/list.txt`, which it returns. `format` is "png" or "jpg" (lossy: for trying
    /// JPEG decoding, not for comparing with the IDX files). `progress` is told each 1,000.
    @discardableResult
    public static func write(images imagesPath: String, labels labelsPath: String, to folder: String, format: String = "png",
                             progress: (Int, Int) -> Void = { _, _ in }) throws -> String {
        guard format == "png" || format == "jpg" else { throw SwiftCaffeError("unknown image format '\(format)'", hint: "use png or jpg") }
        let images = try IDXFile(path: imagesPath), labels = try IDXFile(path: labelsPath)
        let dimensions = images.dimensions
        guard dimensions.count == 3 || (dimensions.count == 4 && [1, 3].contains(dimensions[1])) else {
            throw SwiftCaffeError("'\(imagesPath)' holds \(dimensions.map(String.init).joined(separator: "×")) values, not N×H×W or N×C×H×W images with 1 or 3 channels")
        }
        guard labels.dimensions.count == 1, labels.dimensions[0] == dimensions[0] else {
            throw SwiftCaffeError("'\(labelsPath)' does not hold one label for each of the \(dimensions[0]) images in '\(imagesPath)'")
        }
        let count = dimensions[0], channels = dimensions.count == 4 ? dimensions[1] : 1
        let height = dimensions[dimensions.count - 2], width = dimensions[dimensions.count - 1]
        let plane = height * width, size = channels * plane
        do {
            try FileManager.default.createDirectory(atPath: folder + "/images", withIntermediateDirectories: true)
        } catch {
            throw SwiftCaffeError("cannot create the folder '\(folder)/images'", hint: "check that the path names no file and that it is writable")
        }
        let digits = String(max(count - 1, 0)).count
        var list = ""
        let values = Array(images.bytes), labelValues = Array(labels.bytes)
        for index in 0..<count {
            var pixels = [UInt8](repeating: 0, count: size)
            for c in 0..<channels { for i in 0..<plane { pixels[i * channels + c] = values[index * size + c * plane + i] } }
            let name = "images/" + String(repeating: "0", count: digits - String(index).count) + "\(index).\(format)"
            try RasterImage(width: width, height: height, channels: channels, pixels: pixels).write(to: folder + "/" + name, flush: false)
            list += "\(name) \(labelValues[index])\n"
            if (index + 1) % 1000 == 0 || index + 1 == count { progress(index + 1, count) }
        }
        // The pictures reach the disk together, before the list that names them.
        sync()
        let listPath = folder + "/list.txt"
        try AtomicFile.write(Array(list.utf8), to: listPath)
        return listPath
    }
}

import CPNG
import Foundation
import SwiftCaffeCore

/// PNG files in and out of `RasterImage`, through Debian's libpng (its simplified API, which
/// converts any PNG, palette, alpha or 16-bit, to the layout asked for).
extension RasterImage {
    /// Decodes the PNG file `bytes` (read from `path`, which errors name) as gray
    /// (`channels: 1`) or RGB (`channels: 3`). A damaged file is an error; a header whose size
    /// does not fit in memory is refused before any pixel is decoded.
    static func decodePNG(_ bytes: [UInt8], path: String, channels: Int) throws -> RasterImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        func failure() -> SwiftCaffeError {
            let reason = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return SwiftCaffeError("cannot read the PNG image '\(path)': \(reason.isEmpty ? "not a PNG file" : reason)",
                                   hint: "pass an 8- or 16-bit PNG file")
        }
        guard bytes.withUnsafeBytes({ png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }) != 0 else { throw failure() }
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        let (width, height) = (Int(image.width), Int(image.height))
        guard let count = checkedCount([height, width, channels]) else {
            throw SwiftCaffeError("the PNG image '\(path)' claims \(width)×\(height) pixels, too many to be real", hint: "the file is damaged")
        }
        try MemoryBudget.require(count, for: "the \(width)×\(height) image '\(path)'")
        var pixels = [UInt8](repeating: 0, count: count)
        // libpng reads from `bytes` until the end: they must stay alive (and in place) till then.
        let ok = bytes.withUnsafeBytes { _ in pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) } }
        guard ok != 0 else { throw failure() }
        return RasterImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Writes the image as an 8-bit PNG, atomically.
    public func writePNG(to path: String, flush: Bool = true) throws {
        do {
            try AtomicFile.write(try encodedPNG(), to: path, flush: flush)
        } catch let error as SwiftCaffeError {
            throw SwiftCaffeError("cannot write the PNG image '\(path)': \(error.message)", hint: "check the folder and the disk space")
        }
    }

    /// The image as the bytes of an 8-bit PNG file.
    public func encodedPNG() throws -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        defer { png_image_free(&image) }
        func failure() -> SwiftCaffeError {
            let reason = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return SwiftCaffeError("libpng could not encode the image: \(reason)")
        }
        // The first call measures, the second writes.
        var size = 0
        guard pixels.withUnsafeBytes({ png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }) != 0 else { throw failure() }
        var bytes = [UInt8](repeating: 0, count: size)
        let ok = bytes.withUnsafeMutableBytes { output in
            pixels.withUnsafeBytes { png_image_write_to_memory(&image, output.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard ok != 0 else { throw failure() }
        return Array(bytes.prefix(size))
    }
}

import Foundation
import SwiftCaffeCore

/// An 8-bit picture in memory: gray or RGB, rows top to bottom, channels interleaved
/// (H×W×C), as image files store them. PNG (`PNGCodec.swift`, libpng) and JPEG
/// (`JPEGCodec.swift`, libjpeg-turbo) read into it and write from it; the data layers turn it
/// into Caffe's layout (C×H×W, BGR) themselves.
public struct RasterImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 (gray) or 3 (RGB).
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Reads a PNG or JPEG file (told apart by its first bytes, not its name) as gray
    /// (`channels: 1`) or RGB (`channels: 3`), converting whatever the file holds. A damaged,
    /// truncated or foreign file is an error naming it.
    public init(path: String, channels: Int) throws {
        try self.init(encoded: [UInt8](try FileChecks.contents(of: path, what: "the image")), name: path, channels: channels)
    }

    /// Decodes PNG or JPEG bytes held in memory (an `encoded` Caffe Datum); `name` is what
    /// errors call them.
    public init(encoded bytes: [UInt8], name: String, channels: Int) throws {
        guard channels == 1 || channels == 3 else { throw SwiftCaffeError("an image is read as 1 (gray) or 3 (RGB) channels, not \(channels)") }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            self = try Self.decodePNG(bytes, path: name, channels: channels)
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = try Self.decodeJPEG(bytes, path: name, channels: channels)
        } else {
            throw SwiftCaffeError("cannot read the image '\(name)': \(bytes.isEmpty ? "it is empty" : "it is neither a PNG nor a JPEG file")",
                                  hint: "pass PNG or JPEG images")
        }
    }

    /// The channels PNG or JPEG bytes hold themselves: 1 for gray (with or without alpha), 3
    /// for colour; nil when the header cannot tell. What Caffe's "native" decoding keeps.
    public static func nativeChannels(of bytes: [UInt8]) -> Int? {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            guard bytes.count > 25 else { return nil }
            return bytes[25] == 0 || bytes[25] == 4 ? 1 : 3  // IHDR's colour type: 0 gray, 4 gray + alpha
        }
        guard bytes.starts(with: [0xFF, 0xD8]) else { return nil }
        // Walk the markers to the frame header (SOF0...SOF15 but DHT, JPG, DAC), whose 8th byte counts the components.
        var position = 2
        while position + 9 < bytes.count, bytes[position] == 0xFF {
            let marker = bytes[position + 1]
            let length = Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
                return bytes[position + 9] == 1 ? 1 : 3
            }
            position += 2 + length
        }
        return nil
    }

    /// Writes the image as PNG, or as JPEG when the name ends in .jpg or .jpeg.
    /// `flush`: see `AtomicFile.write`.
    public func write(to path: String, flush: Bool = true) throws {
        let suffix = URL(fileURLWithPath: path).pathExtension.lowercased()
        if suffix == "jpg" || suffix == "jpeg" { try writeJPEG(to: path, flush: flush) } else { try writePNG(to: path, flush: flush) }
    }

    /// Each pixel as a `factor`×`factor` block (nearest neighbour): small tiles such as 5×5
    /// filters, made big enough to see, without blurring them.
    public func enlarged(by factor: Int) -> RasterImage {
        guard factor > 1 else { return self }
        var result = [UInt8](repeating: 0, count: width * factor * height * factor * channels)
        for y in 0..<(height * factor) {
            for x in 0..<(width * factor) {
                let from = ((y / factor) * width + x / factor) * channels, to = (y * width * factor + x) * channels
                for c in 0..<channels { result[to + c] = pixels[from + c] }
            }
        }
        return RasterImage(width: width * factor, height: height * factor, channels: channels, pixels: result)
    }

    /// The same picture at `newWidth`×`newHeight`, resampled bilinearly with pixel centres
    /// aligned (as OpenCV's INTER_LINEAR, which Caffe's `new_height`/`new_width` use).
    public func resized(width newWidth: Int, height newHeight: Int) -> RasterImage {
        guard newWidth != width || newHeight != height else { return self }
        var output = [UInt8](repeating: 0, count: newWidth * newHeight * channels)
        let xScale = Double(width) / Double(newWidth), yScale = Double(height) / Double(newHeight)
        for y in 0..<newHeight {
            let sy = min(max((Double(y) + 0.5) * yScale - 0.5, 0), Double(height - 1))
            let y0 = Int(sy), y1 = min(y0 + 1, height - 1), fy = sy - Double(y0)
            for x in 0..<newWidth {
                let sx = min(max((Double(x) + 0.5) * xScale - 0.5, 0), Double(width - 1))
                let x0 = Int(sx), x1 = min(x0 + 1, width - 1), fx = sx - Double(x0)
                for c in 0..<channels {
                    func at(_ row: Int, _ column: Int) -> Double { Double(pixels[(row * width + column) * channels + c]) }
                    let top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
                    let bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
                    output[(y * newWidth + x) * channels + c] = UInt8((top * (1 - fy) + bottom * fy).rounded())
                }
            }
        }
        return RasterImage(width: newWidth, height: newHeight, channels: channels, pixels: output)
    }
}

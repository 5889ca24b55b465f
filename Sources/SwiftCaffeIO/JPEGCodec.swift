import CJPEG
import Foundation
import SwiftCaffeCore

/// JPEG files in and out of `RasterImage`, through Debian's libjpeg-turbo (its TurboJPEG
/// API, which reports errors as return codes rather than through longjmp, which Swift cannot
/// survive). Colour files read as gray give their luminance; gray files read as RGB repeat it.
extension RasterImage {
    /// Decodes the JPEG file `data` (read from `path`, which errors name) as gray
    /// (`channels: 1`) or RGB (`channels: 3`). A truncated or damaged file is an error
    /// (libjpeg's warnings, such as a premature end of data, count as errors: a half-grey
    /// picture is not a training sample).
    static func decodeJPEG(_ data: [UInt8], path: String, channels: Int) throws -> RasterImage {
        guard let handle = tjInitDecompress() else { throw SwiftCaffeError("cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        func failure(_ what: String) -> SwiftCaffeError {
            SwiftCaffeError("cannot read the JPEG image '\(path)': \(what): \(String(cString: tjGetErrorStr2(handle)))",
                            hint: "the file is damaged or truncated; re-encode or remove it")
        }
        guard let size = UInt(exactly: data.count) else { throw failure("too large") }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = data.withUnsafeBytes { bytes in
            tjDecompressHeader3(handle, bytes.bindMemory(to: UInt8.self).baseAddress, size, &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw failure("bad header") }
        guard width > 0, height > 0, let count = checkedCount([Int(height), Int(width), channels]) else {
            throw SwiftCaffeError("the JPEG image '\(path)' claims \(width)×\(height) pixels", hint: "the file is damaged")
        }
        try MemoryBudget.require(count, for: "the \(width)×\(height) image '\(path)'")
        var pixels = [UInt8](repeating: 0, count: count)
        let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
        // Stop on warnings (truncation), and bound the scans of progressive files, which a
        // hostile file could otherwise multiply into minutes of decoding.
        let flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS
        let status = data.withUnsafeBytes { bytes in
            pixels.withUnsafeMutableBufferPointer { output in
                tjDecompress2(handle, bytes.bindMemory(to: UInt8.self).baseAddress, size, output.baseAddress,
                              width, 0, height, Int32(format.rawValue), Int32(flags))
            }
        }
        guard status == 0 else { throw failure("cannot decode it") }
        return RasterImage(width: Int(width), height: Int(height), channels: channels, pixels: pixels)
    }

    /// Writes the image as a baseline JPEG of `quality` (1-100), without chroma subsampling.
    public func writeJPEG(to path: String, quality: Int = 95, flush: Bool = true) throws {
        guard let handle = tjInitCompress() else { throw SwiftCaffeError("cannot start the JPEG encoder") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        defer { if let buffer { tjFree(buffer) } }
        let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
        let sampling = channels == 1 ? TJSAMP_GRAY : TJSAMP_444
        let status = pixels.withUnsafeBufferPointer { input in
            tjCompress2(handle, input.baseAddress, Int32(width), 0, Int32(height), Int32(format.rawValue), &buffer, &size,
                        Int32(sampling.rawValue), Int32(min(max(quality, 1), 100)), 0)
        }
        guard status == 0, let buffer else {
            throw SwiftCaffeError("cannot encode the JPEG image '\(path)': \(String(cString: tjGetErrorStr2(handle)))")
        }
        try AtomicFile.write(Array(UnsafeBufferPointer(start: buffer, count: Int(size))), to: path, flush: flush)
    }
}

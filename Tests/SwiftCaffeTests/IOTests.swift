import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Weights files, IDX data files and the data layer.
@Suite struct IOTests {
    static let net = """
    layers:
      - {name: in, type: Input, top: data, shape: [1, 3]}
      - {name: ip, type: InnerProduct, bottom: data, top: out, num_output: 2, weight_filler: gaussian, bias_filler: gaussian}
    """

    @Test func weightsRoundTripBitForBit() throws {
        let folder = try temporaryFolder()
        let a = try Net(spec: try NetSpec.parse(Self.net), phase: .train, seed: 1)
        let b = try Net(spec: try NetSpec.parse(Self.net), phase: .train, seed: 2)
        #expect(a.parameters[0].blob.dataArray != b.parameters[0].blob.dataArray)
        try a.saveWeights(to: folder + "/w.safetensors")
        try b.loadWeights(from: folder + "/w.safetensors")
        for (x, y) in zip(a.parameters, b.parameters) { #expect(x.blob.dataArray == y.blob.dataArray) }
        // Only the file itself is left behind: the temporary file was renamed.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["w.safetensors"])
    }

    @Test func safetensorsLayoutIsStandard() throws {
        let values: [Float] = [1, -2, 3.5]
        let bytes = try values.withUnsafeBufferPointer { try Safetensors.encode([("x.0", [3], $0)]) }
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as! [String: Any]
        let entry = header["x.0"] as! [String: Any]
        #expect(entry["dtype"] as? String == "F32")
        #expect(entry["shape"] as? [Int] == [3])
        #expect(entry["data_offsets"] as? [Int] == [0, 12])
        #expect(bytes.count == 8 + headerLength + 12)
        #expect(Array(bytes[(8 + headerLength)...][...(8 + headerLength + 3)]) == [0, 0, 0x80, 0x3F])  // 1.0f little-endian
    }

    @Test func damagedWeightsFilesAreErrors() throws {
        let folder = try temporaryFolder()
        let net = try Net(spec: try NetSpec.parse(Self.net), phase: .train)
        try net.saveWeights(to: folder + "/w.safetensors")
        let whole = try Data(contentsOf: URL(fileURLWithPath: folder + "/w.safetensors"))
        try whole.prefix(whole.count - 4).write(to: URL(fileURLWithPath: folder + "/truncated.safetensors"))
        try Data("not a weights file at all, just text".utf8).write(to: URL(fileURLWithPath: folder + "/foreign.safetensors"))
        try Data([1, 2]).write(to: URL(fileURLWithPath: folder + "/tiny.safetensors"))
        let hugeHeader = Array(#"{"x.0":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#.utf8)
        try Data(withUnsafeBytes(of: UInt64(hugeHeader.count).littleEndian) { Array($0) } + hugeHeader + [0, 0, 0, 0])
            .write(to: URL(fileURLWithPath: folder + "/huge.safetensors"))
        for (name, mention) in [("truncated", "truncated"), ("foreign", "not a valid safetensors"), ("tiny", "2 bytes"),
                                ("missing", "no such file"), ("huge", "bad shape")] {
            do {
                try net.loadWeights(from: folder + "/\(name).safetensors")
                Issue.record("\(name): expected an error")
            } catch let error as SwiftCaffeError {
                #expect(error.description.contains(mention), "\(error)")
                #expect(error.description.contains("\(name).safetensors"))
            }
        }
    }

    @Test func weightsOfAnotherNetNameTheLayer() throws {
        let folder = try temporaryFolder()
        try Net(spec: try NetSpec.parse(Self.net), phase: .train).saveWeights(to: folder + "/w.safetensors")
        let other = try Net(spec: try NetSpec.parse(Self.net.replacingOccurrences(of: "num_output: 2", with: "num_output: 4")), phase: .train)
        #expect { try other.loadWeights(from: folder + "/w.safetensors") } throws: { error in
            let text = "\(error)"
            return text.contains("layer 'ip' (InnerProduct)") && text.contains("[2, 3]") && text.contains("[4, 3]")
        }
    }

    @Test func idxReadsPlainAndGzipAlike() throws {
        let folder = try temporaryFolder()
        let bytes = (0..<24).map { UInt8($0 * 3) }
        try writeIDX(folder + "/plain", dimensions: [2, 3, 4], bytes: bytes)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", folder + "/plain"]
        try gzip.run()
        gzip.waitUntilExit()
        let plain = try IDXFile(path: folder + "/plain")
        let compressed = try IDXFile(path: folder + "/plain.gz")
        #expect(plain.dimensions == [2, 3, 4])
        #expect(Array(plain.bytes) == bytes)
        #expect(compressed.dimensions == plain.dimensions && compressed.bytes == plain.bytes)

        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/plain.gz"))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: folder + "/cut.gz"))
        #expect(throws: SwiftCaffeError.self) { try IDXFile(path: folder + "/cut.gz") }
    }

    @Test func idxRejectsBadFiles() throws {
        let folder = try temporaryFolder()
        try Data([0x50, 0x4B, 3, 4, 0, 0]).write(to: URL(fileURLWithPath: folder + "/zip"))
        try writeIDX(folder + "/short", dimensions: [2, 2, 2], bytes: [1, 2, 3])
        #expect { try IDXFile(path: folder + "/zip") } throws: { "\($0)".contains("bad magic number") }
        #expect { try IDXFile(path: folder + "/short") } throws: { "\($0)".contains("truncated") }
        // A header claiming 2³² × 2³² × 2³² bytes.
        try Data([0, 0, 8, 3] + [UInt8](repeating: 255, count: 12) + [1, 2, 3]).write(to: URL(fileURLWithPath: folder + "/huge"))
        #expect { try IDXFile(path: folder + "/huge") } throws: { "\($0)".contains("too large") }
    }

    func dataLayer(_ folder: String, extra: String = "") throws -> (IDXDataLayer, [Blob]) {
        let layer = try makeLayer("{name: d, type: IDXData, top: [data, label], images: \(folder)/images, labels: \(folder)/labels, batch_size: 2, scale: 0.5\(extra)}") as! IDXDataLayer
        let top = [Blob(), Blob()]
        try layer.setUp(bottom: [], top: top)
        return (layer, top)
    }

    @Test func dataLayerServesScaledBatchesAndWraps() throws {
        let folder = try temporaryFolder()
        try writeIDX(folder + "/images", dimensions: [3, 1, 2], bytes: [0, 2, 4, 6, 8, 10])
        try writeIDX(folder + "/labels", dimensions: [3], bytes: [7, 8, 9])
        let (layer, top) = try dataLayer(folder)
        #expect(top[0].shape == [2, 1, 1, 2])
        layer.forward(bottom: [], top: top)
        #expect(top[0].dataArray == [0, 1, 2, 3])
        #expect(top[1].dataArray == [7, 8])
        layer.forward(bottom: [], top: top)
        #expect(top[0].dataArray == [4, 5, 0, 1])  // wraps into the next pass
        #expect(top[1].dataArray == [9, 7])
        #expect(layer.epoch == 1)
    }

    @Test func shuffleIsAPermutationFixedBySeed() throws {
        let folder = try temporaryFolder()
        try writeIDX(folder + "/images", dimensions: [10, 1, 1], bytes: Array(0..<10))
        try writeIDX(folder + "/labels", dimensions: [10], bytes: Array(0..<10))
        func pass() throws -> [Float] {
            let (layer, top) = try dataLayer(folder, extra: ", shuffle: true")
            return (0..<5).flatMap { _ in layer.forward(bottom: [], top: top); return top[1].dataArray }
        }
        let first = try pass()
        #expect(first.sorted() == (0..<10).map(Float.init))
        #expect(first != (0..<10).map(Float.init))
        #expect(try pass() == first)
    }

    @Test func mismatchedImageAndLabelCounts() throws {
        let folder = try temporaryFolder()
        try writeIDX(folder + "/images", dimensions: [3, 1, 2], bytes: [0, 2, 4, 6, 8, 10])
        try writeIDX(folder + "/labels", dimensions: [2], bytes: [7, 8])
        #expect { try dataLayer(folder) } throws: { "\($0)".contains("3 images but 2 labels") }
    }
}

/// PNG through Debian's libpng: what is written reads back, gray and colour convert into each
/// other, and a damaged file is an error naming it.
@Suite struct PNGTests {
    @Test func grayAndColourRoundTrip() throws {
        let folder = try temporaryFolder()
        let gray = RasterImage(width: 3, height: 2, channels: 1, pixels: [0, 50, 100, 150, 200, 250])
        try gray.write(to: folder + "/gray.png")
        #expect(try RasterImage(path: folder + "/gray.png", channels: 1) == gray)
        // Gray read as colour repeats the value in each channel.
        #expect(try RasterImage(path: folder + "/gray.png", channels: 3).pixels == gray.pixels.flatMap { [$0, $0, $0] })
        let colour = RasterImage(width: 2, height: 1, channels: 3, pixels: [255, 0, 0, 0, 0, 255])
        try colour.write(to: folder + "/colour.png")
        #expect(try RasterImage(path: folder + "/colour.png", channels: 3) == colour)
        // Colour read as gray: pure red is darker than white and brighter than black.
        let luminance = try RasterImage(path: folder + "/colour.png", channels: 1).pixels
        #expect(luminance.count == 2 && luminance.allSatisfy { $0 > 0 && $0 < 255 })
    }

    @Test func damagedFilesAreErrors() throws {
        let folder = try temporaryFolder()
        try RasterImage(width: 4, height: 4, channels: 1, pixels: [UInt8](repeating: 7, count: 16)).write(to: folder + "/a.png")
        let whole = try Data(contentsOf: URL(fileURLWithPath: folder + "/a.png"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: folder + "/cut.png"))
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: folder + "/text.png"))
        for name in ["cut", "text", "missing"] {
            #expect { try RasterImage(path: folder + "/\(name).png", channels: 1) } throws: { "\($0)".contains("\(name).png") }
        }
    }
}

@Suite struct RasterImageEnlargingTests {
    /// `visualize --scale`: every pixel becomes a block, colours untouched.
    @Test func eachPixelBecomesABlock() {
        let image = RasterImage(width: 2, height: 1, channels: 3, pixels: [1, 2, 3, 4, 5, 6])
        let big = image.enlarged(by: 2)
        #expect(big.width == 4 && big.height == 2)
        #expect(big.pixels == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        #expect(image.enlarged(by: 1) == image)
    }
}

import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Images as data: JPEG decoding, the transforms on tiny hand-made images, and ImageData
/// (its list file, errors, Caffe's BGR layout, wrapping, prefetching, resuming) against
/// IDXData on the same pictures.
@Suite struct ImageDataTests {
    // MARK: JPEG

    /// Flat 8×8 blocks survive JPEG almost exactly, so pixels written come back within a few
    /// levels; a colour file read as gray gives its luminance (0.299 R + 0.587 G + 0.114 B).
    @Test func jpegDecodesThePixelsWritten() throws {
        let folder = try temporaryFolder()
        let levels: [UInt8] = [0, 40, 90, 140, 200, 255]
        var gray: [UInt8] = [], colour: [UInt8] = []
        for y in 0..<16 {
            for x in 0..<24 {
                let block = (y / 8) * 3 + x / 8
                gray.append(levels[block])
                colour += [levels[block], levels[5 - block], levels[(block + 2) % 6]]
            }
        }
        try RasterImage(width: 24, height: 16, channels: 1, pixels: gray).write(to: folder + "/gray.jpg")
        try RasterImage(width: 24, height: 16, channels: 3, pixels: colour).write(to: folder + "/colour.jpeg")
        func close(_ a: [UInt8], _ b: [UInt8], within tolerance: Int) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { abs(Int($0) - Int($1)) <= tolerance }
        }
        let readGray = try RasterImage(path: folder + "/gray.jpg", channels: 1)
        #expect(readGray.width == 24 && readGray.height == 16)
        #expect(close(readGray.pixels, gray, within: 2))
        #expect(close(try RasterImage(path: folder + "/gray.jpg", channels: 3).pixels, gray.flatMap { [$0, $0, $0] }, within: 2))
        #expect(close(try RasterImage(path: folder + "/colour.jpeg", channels: 3).pixels, colour, within: 3))
        var luminance: [UInt8] = []
        for i in stride(from: 0, to: colour.count, by: 3) {
            let red = 0.299 * Double(colour[i]), green = 0.587 * Double(colour[i + 1]), blue = 0.114 * Double(colour[i + 2])
            luminance.append(UInt8((red + green + blue).rounded()))
        }
        #expect(close(try RasterImage(path: folder + "/colour.jpeg", channels: 1).pixels, luminance, within: 3))
    }

    @Test func damagedJPEGsAreErrorsNamingTheFile() throws {
        let folder = try temporaryFolder()
        var rng = RandomGenerator(seed: 4)
        let noise = (0..<(64 * 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        try RasterImage(width: 64, height: 64, channels: 1, pixels: noise).write(to: folder + "/whole.jpg")
        let whole = try Data(contentsOf: URL(fileURLWithPath: folder + "/whole.jpg"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: folder + "/cut.jpg"))
        try (whole.prefix(3) + Data(repeating: 0x55, count: 200)).write(to: URL(fileURLWithPath: folder + "/garbage.jpg"))
        try Data().write(to: URL(fileURLWithPath: folder + "/empty.jpg"))
        for name in ["cut", "garbage", "empty", "missing"] {
            #expect { try RasterImage(path: folder + "/\(name).jpg", channels: 1) } throws: { "\($0)".contains("\(name).jpg") }
        }
    }

    // MARK: Transforms

    /// A transform built from layer keys, in the given phase.
    func transform(_ keys: String, phase: Phase = .train) throws -> DataTransform {
        let spec = try LayerSpec(try YAMLParser.parse("{name: t, type: IDXData, \(keys)}", file: "net.yaml"), index: 0, baseDirectory: "")
        return try DataTransform(spec, phase: phase, seed: 3)
    }

    /// One 4×4 gray image, 0...15 row by row, through `transform` with the draw `draw`.
    func apply(_ transform: DataTransform, draw: UInt64 = 0, channels: Int = 1) -> [Float] {
        let source = (0..<(16 * channels)).map { UInt8($0) }
        let side = transform.cropSize > 0 ? transform.cropSize : 4
        var output = [Float](repeating: -1, count: channels * side * side)
        source.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { transform.apply(input.baseAddress!, channels: channels, height: 4, width: 4, into: $0.baseAddress!, draw: draw) }
        }
        return output
    }

    /// The crop of the 4×4 image at (top, left) of `side`, flipped if asked, with `pad` zeros round it.
    func crop(top: Int, left: Int, side: Int, flip: Bool = false, pad: Int = 0) -> [Float] {
        var values: [Float] = []
        for y in 0..<side {
            for x in 0..<side {
                let row = y + top - pad, column = (flip ? side - 1 - x : x) + left - pad
                values.append((0..<4).contains(row) && (0..<4).contains(column) ? Float(row * 4 + column) : 0)
            }
        }
        return values
    }

    @Test func testingTakesTheCentreAndNeverFlips() throws {
        let centre = try transform("crop_size: 2, mirror: true, cutout: 2", phase: .test)
        for draw: UInt64 in 0..<20 { #expect(apply(centre, draw: draw) == [5, 6, 9, 10]) }
    }

    /// Random crops land on every offset and flips happen both ways, each output being exactly
    /// one crop of the image, and the same draw always gives the same crop.
    @Test func trainingCropsAtRandomOffsetsAndFlips() throws {
        let random = try transform("crop_size: 3, mirror: true")
        var seen = Set<String>()
        for draw: UInt64 in 0..<200 {
            let output = apply(random, draw: draw)
            #expect(output == apply(random, draw: draw))
            var match: String?
            for top in 0...1 { for left in 0...1 { for flip in [false, true] where crop(top: top, left: left, side: 3, flip: flip) == output { match = "\(top)\(left)\(flip)" } } }
            #expect(match != nil, "draw \(draw): \(output)")
            if let match { seen.insert(match) }
        }
        #expect(seen.count == 8)
    }

    @Test func paddingAddsZerosBeforeTheCrop() throws {
        let padded = try transform("crop_size: 4, pad: 1")
        var offsets = Set<String>()
        for draw: UInt64 in 0..<200 {
            let output = apply(padded, draw: draw)
            var match: String?
            for top in 0...2 { for left in 0...2 where crop(top: top, left: left, side: 4, pad: 1) == output { match = "\(top)\(left)" } }
            #expect(match != nil, "draw \(draw): \(output)")
            if let match { offsets.insert(match) }
        }
        #expect(offsets.count == 9)
        #expect { try transform("pad: 2") } throws: { "\($0)".contains("crop_size") }
    }

    @Test func meanAndScaleApplyPerChannel() throws {
        let normalised = try transform("mean_value: [1, 2], scale: 0.5")
        let output = apply(normalised, channels: 2)
        let expected = (0..<32).map { Float($0) - ($0 < 16 ? 1 : 2) }.map { $0 * 0.5 }
        #expect(output == expected)
        #expect(apply(try transform("mean_value: 3"), channels: 2) == (0..<32).map { Float($0) - 3 })
        // Three means for two channels is refused when the layer learns its sample shape.
        #expect { try transform("mean_value: [1, 2, 3]").outputShape(channels: 2, height: 4, width: 4) } throws: { "\($0)".contains("mean_value") }
    }

    /// Cutout erases one square of at most its side, to 0, and leaves the rest as it was.
    @Test func cutoutErasesASquare() throws {
        let cut = try transform("cutout: 2")
        var erasedCounts = Set<Int>()
        for draw: UInt64 in 0..<100 {
            let output = apply(cut, draw: draw)
            let erased = (0..<16).filter { output[$0] != Float($0) }
            #expect(erased.allSatisfy { output[$0] == 0 })
            #expect(erased.count <= 4)
            if let first = erased.first, let last = erased.last {
                #expect(last / 4 - first / 4 <= 1 && abs(last % 4 - first % 4) <= 1)
            }
            erasedCounts.insert((0..<16).filter { output[$0] == 0 && $0 != 0 }.count + (output[0] == 0 ? 1 : 0))
        }
        #expect(erasedCounts.contains(4) && erasedCounts.contains(1))  // inside, and hanging over a corner
    }

    // MARK: ImageData

    /// A folder with the PNGs of `images` (N×H×W gray) and a list file of `lines` (default:
    /// every image with its label).
    func imageFolder(_ images: [[UInt8]], side: Int, labels: [Int], lines: String? = nil) throws -> String {
        let folder = try temporaryFolder()
        var list = ""
        for (index, pixels) in images.enumerated() {
            try RasterImage(width: side, height: side, channels: 1, pixels: pixels).write(to: folder + "/\(index).png")
            list += "\(index).png \(labels[index])\n"
        }
        try (lines ?? list).write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        return folder
    }

    func imageData(_ folder: String, keys: String, phase: Phase = .train, tops: Int = 2) throws -> (ImageDataLayer, [Blob]) {
        let spec = try LayerSpec(try YAMLParser.parse("{name: images, type: ImageData, source: list.txt, \(keys)}", file: folder + "/net.yaml"),
                                 index: 0, baseDirectory: folder)
        let layer = try LayerRegistry.make(spec, context: LayerContext(phase: phase, seed: 9)) as! ImageDataLayer
        try spec.rejectUnknownKeys()
        let blobs = (0..<tops).map { _ in Blob() }
        try layer.setUp(bottom: [], top: blobs)
        return (layer, blobs)
    }

    /// Three images in batches of five wrap round as Caffe does: 0 1 2 0 1, then 2 0 1 2 0.
    @Test func aListSmallerThanABatchWraps() throws {
        let folder = try imageFolder([[10, 10, 10, 10], [20, 20, 20, 20], [30, 30, 30, 30]], side: 2, labels: [4, 5, 6])
        let (layer, tops) = try imageData(folder, keys: "batch_size: 5, is_color: false")
        #expect(tops[0].shape == [5, 1, 2, 2])
        try layer.forward(bottom: [], top: tops)
        #expect(tops[1].dataArray == [4, 5, 6, 4, 5])
        #expect(stride(from: 0, to: 20, by: 4).map { tops[0].dataArray[$0] } == [10, 20, 30, 10, 20])
        try layer.forward(bottom: [], top: tops)
        #expect(tops[1].dataArray == [6, 4, 5, 6, 4])
        #expect(layer.epoch == 3)
    }

    /// Colour is served as Caffe serves it: C×H×W with the channels in BGR order.
    @Test func colourIsServedInBGROrder() throws {
        let folder = try temporaryFolder()
        // One 1×2 picture: a red pixel and a blue one.
        try RasterImage(width: 2, height: 1, channels: 3, pixels: [255, 0, 0, 0, 0, 255]).write(to: folder + "/rb.png")
        try "rb.png 0\n".write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        let (layer, tops) = try imageData(folder, keys: "batch_size: 1", tops: 1)
        try layer.forward(bottom: [], top: tops)
        #expect(tops[0].shape == [1, 3, 1, 2])
        #expect(tops[0].dataArray == [0, 255, 0, 0, 255, 0])  // B plane, G plane, R plane
        // And is_color: false reads it as gray.
        let (gray, grayTops) = try imageData(folder, keys: "batch_size: 1, is_color: false", tops: 1)
        try gray.forward(bottom: [], top: grayTops)
        #expect(grayTops[0].shape == [1, 1, 1, 2] && grayTops[0].dataArray.allSatisfy { $0 > 0 && $0 < 255 })
    }

    @Test func badListLinesAreErrorsAtTheirLine() throws {
        let pixels: [[UInt8]] = [[1, 2, 3, 4], [5, 6, 7, 8]]
        let cases: [(lines: String, message: String)] = [
            ("0.png 1\n1.png\n", "list.txt:2:1: error: layer 'images' (ImageData): '1.png' has no label"),
            ("0.png 1\n\n1.png cat\n", "list.txt:3:1: error: layer 'images' (ImageData): the label 'cat' is not a class number"),
            ("0.png 1\n1.png -2\n", "list.txt:2:1: error: layer 'images' (ImageData): the label '-2'"),
            ("0.png 1\nmissing.png 3\n", "list.txt:2:1: error: layer 'images' (ImageData): no image '"),
            ("\n\n", "names no images"),
        ]
        for (lines, message) in cases {
            let folder = try imageFolder(pixels, side: 2, labels: [0, 1], lines: lines)
            #expect { try imageData(folder, keys: "batch_size: 1") } throws: { "\($0)".contains(message) }
        }
    }

    /// A damaged image, or one of another size, is found when its batch is read: the net's
    /// forward fails with the list file's line, and the process goes on.
    @Test func aDamagedImageIsAnErrorAtItsLine() throws {
        let folder = try imageFolder([[1, 2, 3, 4], [5, 6, 7, 8], [9, 9, 9, 9]], side: 2, labels: [0, 1, 2])
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: folder + "/1.png"))
        try RasterImage(width: 3, height: 1, channels: 1, pixels: [1, 2, 3]).write(to: folder + "/2.png")
        try """
        name: broken
        layers:
          - {name: images, type: ImageData, top: [data, label], source: list.txt, batch_size: 1, is_color: false}
          - {name: flat, type: Flatten, bottom: data, top: flat}
        """.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        let net = try Net(spec: try NetSpec.load(path: folder + "/net.yaml"), phase: .train)
        try net.forward()  // image 0 is fine
        #expect { try net.forward() } throws: { "\($0)".contains("list.txt:2:1: error: layer 'images' (ImageData): cannot read the image") }
        #expect { try net.forward() } throws: { "\($0)".contains("list.txt:3:1:") && "\($0)".contains("is 3×1, the first image 2×2") }
        try net.forward()  // and round again to image 0
    }

    /// ImageData on the PNGs of an IDX data set serves, batch after batch, exactly what
    /// IDXData serves from the IDX files: the same shuffled order and, with crops, flips and
    /// cutout, the same random draws (the same layer name and seed). So a net trained from the
    /// pictures is the net trained from the IDX files.
    @Test func imageDataServesWhatIDXDataServes() throws {
        let (folder, _) = try SnapshotTests().smallNet()
        try ImageFolder.write(images: folder + "/images", labels: folder + "/labels", to: folder + "/png")
        let keys = "batch_size: 24, shuffle: true, scale: 0.5, crop_size: 6, mirror: true, pad: 1, cutout: 3, mean_value: 9"
        let imagesSpec = try LayerSpec(try YAMLParser.parse("{name: d, type: ImageData, source: png/list.txt, is_color: false, \(keys)}", file: "n.yaml"),
                                       index: 0, baseDirectory: folder)
        let idxSpec = try LayerSpec(try YAMLParser.parse("{name: d, type: IDXData, images: images, labels: labels, \(keys)}", file: "n.yaml"),
                                    index: 0, baseDirectory: folder)
        let context = LayerContext(phase: .train, seed: 21)
        let fromImages = try LayerRegistry.make(imagesSpec, context: context), fromIDX = try LayerRegistry.make(idxSpec, context: context)
        let imageTops = [Blob(), Blob()], idxTops = [Blob(), Blob()]
        try fromImages.setUp(bottom: [], top: imageTops)
        try fromIDX.setUp(bottom: [], top: idxTops)
        #expect(imageTops[0].shape == [24, 1, 6, 6] && idxTops[0].shape == [24, 1, 6, 6])
        for batch in 0..<25 {  // 600 samples: past two reshuffles
            try fromImages.forward(bottom: [], top: imageTops)
            try fromIDX.forward(bottom: [], top: idxTops)
            #expect(imageTops[0].dataArray == idxTops[0].dataArray, "batch \(batch)")
            #expect(imageTops[1].dataArray == idxTops[1].dataArray, "batch \(batch)")
        }
    }

    /// With a batch always being prepared in the background, a saved state is still the
    /// position after the last batch served: restoring it serves the next batches again, and
    /// a rewind starts from the first sample.
    @Test func savedStateIgnoresThePrefetchedBatch() throws {
        var rng = RandomGenerator(seed: 8)
        let images = (0..<20).map { _ in (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        let folder = try imageFolder(images, side: 4, labels: (0..<20).map { $0 % 7 })
        let (layer, tops) = try imageData(folder, keys: "batch_size: 6, shuffle: true, crop_size: 3, mirror: true, is_color: false")
        for _ in 0..<3 { try layer.forward(bottom: [], top: tops) }
        let saved = layer.saveState()
        var next: [[Float]] = []
        for _ in 0..<3 {
            try layer.forward(bottom: [], top: tops)
            next.append(tops[0].dataArray + tops[1].dataArray)
        }
        try layer.restoreState(saved)
        for index in 0..<3 {
            try layer.forward(bottom: [], top: tops)
            #expect(tops[0].dataArray + tops[1].dataArray == next[index])
        }
        #expect(try #require(layer.prefetchStatistics).batches >= 7)
        // A test pass: unshuffled, rewound to the first image while a batch is being prepared.
        let (tester, testerTops) = try imageData(folder, keys: "batch_size: 6, is_color: false", phase: .test)
        try tester.forward(bottom: [], top: testerTops)
        let first = testerTops[0].dataArray
        try tester.forward(bottom: [], top: testerTops)
        tester.rewind()
        try tester.forward(bottom: [], top: testerTops)
        #expect(testerTops[0].dataArray == first)
        #expect(Array(first.prefix(16)) == images[0].map(Float.init))
    }

    // MARK: Classifier

    /// `classify` on pictures of test images gives the classes and probabilities that the
    /// net computes on those images from its own data layer.
    @Test func classifyingPicturesMatchesTheNetOnItsData() throws {
        let (folder, spec) = try SnapshotTests().smallNet()
        let trainer = try Trainer(spec: spec, options: TrainingOptions(maxIter: 30, output: folder + "/run"))
        try trainer.run(logging: false)
        let weights = folder + "/run/small_iter_30.safetensors"
        try ImageFolder.write(images: folder + "/images", labels: folder + "/labels", to: folder + "/png")
        let classifier = try Classifier(net: folder + "/net.yaml", weights: weights)
        #expect(classifier.classNames == ["nw", "ne", "sw", "se"])

        let net = try Net(spec: spec, phase: .test)
        try net.loadWeights(from: weights)
        try net.forward()  // the first 64 test images, in file order
        let scores = net.plan.unsplit(net.bottoms[net.layers.firstIndex { $0 is AccuracyLayer }!][0])
        let pictures = try (0..<64).map { try RasterImage(path: folder + "/png/images/\(String(format: "%03d", $0)).png", channels: 1) }
        let probabilities = try classifier.probabilities(pictures)
        var agreements = 0
        for image in 0..<64 {
            let row = (0..<4).map { scores.data[image * 4 + $0] }
            let largest = row.max()!
            let expected = row.map { exp($0 - largest) }.map { $0 / row.map { exp($0 - largest) }.reduce(0, +) }
            #expect(zip(probabilities[image], expected).allSatisfy { abs($0 - $1) < 1e-5 }, "image \(image)")
            if probabilities[image].firstIndex(of: probabilities[image].max()!) == row.firstIndex(of: largest) { agreements += 1 }
        }
        #expect(agreements == 64)
        let top = try classifier.classify(path: folder + "/png/images/000.png", top: 2)
        #expect(top.count == 2 && top[0].probability >= top[1].probability && top[0].probability > 0.5)
    }

    /// `visualize --image` draws the layer's output for the picture: the maps a net run as
    /// written computes for it, though the classifier's inference net lets later blobs take
    /// turns in that output's memory.
    @Test func visualizingActivationsDrawsTheLayersOutputForThePicture() throws {
        let folder = try SnapshotTests().smallNet().folder  // its pictures, with a deeper net
        try """
        name: deeper
        layers:
          - {name: data, type: IDXData, top: [data, label], images: images, labels: labels, batch_size: 16, scale: 0.00390625, phase: train}
          - {name: data, type: IDXData, top: [data, label], images: images, labels: labels, batch_size: 16, scale: 0.00390625, phase: test}
          - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 4, kernel_size: 3, pad: 1, weight_filler: xavier}
          - {name: relu, type: ReLU, bottom: conv, top: conv}
          - {name: conv2, type: Convolution, bottom: conv, top: conv2, num_output: 4, kernel_size: 3, pad: 1, weight_filler: xavier}
          - {name: conv3, type: Convolution, bottom: conv2, top: conv3, num_output: 4, kernel_size: 3, pad: 1, weight_filler: xavier}
          - {name: ip, type: InnerProduct, bottom: conv3, top: ip, num_output: 4, weight_filler: xavier}
          - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
        solver: {type: SGD, base_lr: 0.05, max_iter: 5}
        """.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        let spec = try NetSpec.load(path: folder + "/net.yaml")
        try Trainer(spec: spec, options: TrainingOptions(maxIter: 5, output: folder + "/run")).run(logging: false)
        let weights = folder + "/run/deeper_iter_5.safetensors"
        try ImageFolder.write(images: folder + "/images", labels: folder + "/labels", to: folder + "/png")
        let picture = try RasterImage(path: folder + "/png/images/003.png", channels: 1)

        let net = try Net(spec: spec, options: NetOptions(phase: .test, purpose: .asWritten))
        try net.loadWeights(from: weights)
        let input = net.blobs["data"]!, sampleSize = input.count / input.shape[0]
        var values = [Float](repeating: 0, count: input.count)
        for i in 0..<sampleSize { values[i] = Float(picture.pixels[i]) * 0.00390625 }
        try net.forward(replacing: ["data": values])
        let conv = net.blobs["conv"]!, area = conv.shape[2] * conv.shape[3]  // after the ReLU, in place
        let maps = (0..<conv.shape[1]).map { c in Array(conv.dataArray[(c * area)..<((c + 1) * area)]) }
        let expected = TileGrid(tiles: maps, height: conv.shape[2], width: conv.shape[3], channels: 1).image()

        let runner = Fuzzer(binary: FuzzTests.binary, repository: repositoryRoot, root: NSTemporaryDirectory(), seed: 0)
        let (outcome, output) = runner.run([FuzzTests.binary, "visualize", folder + "/net.yaml", "--weights", weights, "--layer", "conv",
                                            "--image", folder + "/png/images/003.png", "-o", folder + "/maps.png"])
        #expect(outcome == .ran, "\(outcome): \(output.suffix(500))")
        #expect(try RasterImage(path: folder + "/maps.png", channels: 1) == expected)
    }

    /// Tiles are mapped to 0...255 over all of them, enlarged, and laid out with gray gaps;
    /// colour tiles (BGR planes) become RGB pixels.
    @Test func tileGridsMapValuesOverAllTiles() throws {
        let gray = TileGrid(tiles: [[0, 1], [2, 3]], height: 1, width: 2, channels: 1).image(minimumTile: 4)
        // Zoom 2: tiles 2×4 pixels, two columns, one row: 2·(4+1)+1 = 11 wide, 2+2 = 4 high.
        #expect(gray.width == 11 && gray.height == 4)
        func pixel(_ x: Int, _ y: Int) -> UInt8 { gray.pixels[y * gray.width + x] }
        #expect(pixel(0, 0) == 128 && pixel(5, 1) == 128)             // gaps
        #expect(pixel(1, 1) == 0 && pixel(2, 2) == 0)                  // value 0, enlarged
        #expect(pixel(3, 1) == 85 && pixel(6, 1) == 170 && pixel(9, 2) == 255)
        let colour = TileGrid(tiles: [[1, 0, 0]], height: 1, width: 1, channels: 3).image(minimumTile: 1)
        #expect(Array(colour.pixels[(1 * colour.width + 1) * 3..<(1 * colour.width + 1) * 3 + 3]) == [0, 0, 255])  // blue
    }

    /// Training on pictures with random crops, flips and cutout, stopped and resumed, ends
    /// with the very weights of the run that was never stopped: the transform's draws need no
    /// saving and the prefetched batch is not counted as served.
    @Test func anAugmentedRunFromPicturesResumesBitExactly() throws {
        let (folder, _) = try SnapshotTests().smallNet()
        try ImageFolder.write(images: folder + "/images", labels: folder + "/labels", to: folder + "/png")
        try """
        name: pictures
        layers:
          - {name: data, type: ImageData, top: [data, label], source: png/list.txt, is_color: false, batch_size: 20, shuffle: true,
             scale: 0.00390625, crop_size: 8, pad: 1, mirror: true, cutout: 3}
          - {name: conv, type: Convolution, bottom: data, top: conv, num_output: 4, kernel_size: 3, weight_filler: xavier}
          - {name: relu, type: ReLU, bottom: conv, top: conv}
          - {name: ip, type: InnerProduct, bottom: conv, top: ip, num_output: 4, weight_filler: xavier}
          - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
        solver: {type: SGD, base_lr: 0.05, momentum: 0.9, max_iter: 30, display: 1}
        """.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        let spec = try NetSpec.load(path: folder + "/net.yaml")
        let whole = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/whole"))
        let (allLosses, _) = try SnapshotTests().run(whole)
        let first = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/split"))
        let (firstLosses, outcome) = try SnapshotTests().run(first, stopAt: 17)  // mid-pass: 256 images, 20 a batch
        #expect(outcome == .interrupted)
        let second = try Trainer(spec: spec, options: TrainingOptions(output: folder + "/split"))
        try second.resume(from: folder + "/split/pictures_iter_17.solverstate")
        let (secondLosses, _) = try SnapshotTests().run(second)
        #expect(firstLosses + secondLosses == allLosses)
        for (a, b) in zip(whole.trainNet.parameters, second.trainNet.parameters) {
            #expect(a.blob.dataArray == b.blob.dataArray, "\(a.name) differs after resuming")
        }
    }
}

import ArgumentParser
import Foundation
import SwiftCaffe

/// `swiftcaffe visualize`: a layer's filters, or its activation maps for one picture, as a PNG
/// grid (Caffe's filter-visualisation notebook).
struct VisualizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visualize",
        abstract: "Draw a layer's filters, or its activations for a picture, as a grid of tiles in a PNG.",
        discussion: """
        Filters: the layer's weights (O×C×kh×kw); with 3 input channels each filter is one \
        colour tile, otherwise each input channel of each filter is a gray tile (the first \
        --limit of them). With --image: the layer's output for that picture (prepared as the \
        net's data layer prepares test samples), one gray tile per channel.
        """
    )

    @Argument(help: "The net file: YAML, Caffe's .prototxt, or an ONNX model.")
    var net: String

    @OptionGroup var netState: NetStateOptions

    @Option(help: "The trained weights (.safetensors or .caffemodel).")
    var weights: String

    @Option(help: "The layer to draw.")
    var layer: String

    @Option(name: .shortAndLong, help: "The PNG file to write.")
    var output: String

    @Option(help: "A PNG or JPEG picture: draw the layer's activations for it instead of its filters.")
    var image: String?

    @Option(help: "At most this many tiles.")
    var limit: Int = 256

    @Option(help: "Draw each value as an N×N block of pixels (5×5 filters are small).")
    var scale: Int = 1

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if !(1...100_000).contains(limit) { throw ValidationError("--limit must be between 1 and 100000") }
        if !(1...64).contains(scale) { throw ValidationError("--scale must be between 1 and 64") }
    }

    func run() throws {
        try runtime.run {
            let grid: TileGrid
            let what: String
            if let image {
                // The layer's top must outlive the rest of the forward pass.
                let drawn = try netState.load(net).layers.filter { $0.name == layer && $0.phase != .train }.flatMap(\.tops)
                let classifier = try Classifier(net: net, weights: weights, keeping: Set(drawn))
                guard let index = classifier.net.layers.firstIndex(where: { $0.name == layer }) else {
                    throw SwiftCaffeError("the test net has no layer '\(layer)'", hint: "layers: \(classifier.net.layers.map(\.name).joined(separator: ", "))")
                }
                _ = try classifier.classify(path: image, top: 1)  // runs the net on the picture
                let top = classifier.net.tops[index][0]
                guard top.shape.count == 4 else { throw SwiftCaffeError("'\(top.name)' is \(top.shapeDescription), not feature maps (N×C×H×W)") }
                let (channels, height, width) = (top.shape[1], top.shape[2], top.shape[3])
                let maps = (0..<min(channels, limit)).map { c in (0..<(height * width)).map { top.data[c * height * width + $0] } }
                grid = TileGrid(tiles: maps, height: height, width: width, channels: 1)
                what = "\(maps.count) of \(channels) activation maps of '\(top.name)' (\(height)×\(width))"
            } else {
                let spec = try netState.load(net)
                let built = try Net(spec: spec, phase: .test)
                try built.loadWeights(from: weights)
                guard let found = built.plan.layer(named: layer) else {
                    throw SwiftCaffeError("the net has no layer '\(layer)'", hint: "layers: \(built.layers.map(\.name).joined(separator: ", "))")
                }
                guard let filters = found.params.first, filters.shape.count == 4 else {
                    throw found.error("has no 4-D filters to draw (its weights are \(found.params.first?.shapeDescription ?? "absent"))",
                                      hint: "name a Convolution layer, or pass --image to draw its activations")
                }
                let (count, inputs, height, width) = (filters.shape[0], filters.shape[1], filters.shape[2], filters.shape[3])
                let size = inputs * height * width
                if inputs == 3 {
                    grid = TileGrid(tiles: (0..<min(count, limit)).map { o in (0..<size).map { filters.data[o * size + $0] } },
                                    height: height, width: width, channels: 3)
                    what = "\(min(count, limit)) of \(count) colour filters of '\(layer)' (\(height)×\(width))"
                } else {
                    let tiles = (0..<min(count * inputs, limit)).map { t in (0..<(height * width)).map { filters.data[t * height * width + $0] } }
                    grid = TileGrid(tiles: tiles, height: height, width: width, channels: 1)
                    what = "\(tiles.count) of \(count * inputs) filter channels of '\(layer)' (\(height)×\(width), \(count) filters × \(inputs) inputs)"
                }
            }
            let tiles = grid.image()
            try MemoryBudget.require(tiles.pixels.count * scale * scale, for: "the picture at --scale \(scale)")
            try tiles.enlarged(by: scale).writePNG(to: output)
            printLine("wrote \(what) to \(output)")
        }
    }
}

import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeLayers
import SwiftCaffeSpec

/// What the trainer measures for its `TrainingRecord` besides the loss: per-layer times from
/// the passes that train (`LayerClock`), the norms people read to find a dead or exploding
/// layer, and the pictures of each test.
///
/// The norms are taken only at displayed iterations. The update's norm needs each parameter's
/// weights from before it: the solver reports each parameter's update as it makes it, and the
/// weights of that one parameter are copied (into one buffer the size of the largest, kept for
/// the run). Every other iteration pays nothing beyond the clock.
final class TrainingObservations {
    let clock: LayerClock
    /// The weights of the parameter being updated, from before its update.
    private var before: [Float] = []
    private var norms: [[String: Any]] = []

    init(net: Net) {
        clock = LayerClock(layers: net.layers.count)
        net.clock = clock
    }

    /// What the solver calls around each parameter's update on a displayed iteration: before
    /// it, the mean gradient's norm (the diff holds the sum over `scale`'s reciprocal passes
    /// and ranks) and a copy of the weights; after it, the update's and the weights' norms.
    func updateObserver(_ parameters: [LearnableParameter], gradientScale scale: Double) -> (Int, Bool) -> Void {
        let largest = parameters.map(\.blob.count).max() ?? 0
        if before.count < largest { before = [Float](repeating: 0, count: largest) }
        norms = []
        var gradient = 0.0
        return { [self] index, isBefore in
            let parameter = parameters[index], w = parameter.blob.data, count = parameter.blob.count
            if isBefore {
                gradient = Self.norm(parameter.blob.diff, count) * scale
                before.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: w, count: count) }
                return
            }
            let update: Double = before.withUnsafeMutableBufferPointer { old in
                let d = old.baseAddress!
                for i in 0..<count { d[i] = w[i] - d[i] }
                return Self.norm(d, count)
            }
            norms.append(["layer": parameter.layer, "index": parameter.index, "shape": parameter.blob.shape, "learned": parameter.lrMult > 0,
                          "weight_norm": Self.norm(w, count), "gradient_norm": gradient, "update_norm": update])
        }
    }

    /// The norms of the last observed update, a line per parameter.
    func parameterNorms() -> [[String: Any]] { norms }

    /// Each layer's mean forward and backward ms since the last call, which restarts the clock.
    func layerTimes(_ net: Net) -> [[String: Any]] {
        let passes = Double(max(clock.passes, 1))
        defer { clock.reset() }
        return net.layers.indices.map { index in
            ["name": net.layers[index].name, "type": net.layers[index].spec.type,
             "forward_ms": clock.forward[index] * 1e3 / passes, "backward_ms": clock.backward[index] * 1e3 / passes]
        }
    }

    /// The L2 norm, summed in Float by OpenBLAS's vector kernels: for what a page shows, a
    /// relative error near 1e-6 is nothing, and a scalar sum in Double took 2 ms a displayed
    /// iteration on LeNet's 431 K parameters (measured: `display: 1` trained 20 % slower).
    static func norm(_ values: UnsafeMutablePointer<Float>, _ count: Int) -> Double {
        Double(BLAS.dot(values, values, count: count)).squareRoot()
    }

    // MARK: Tests

    /// A test's line in the record: its outputs, its confusion matrix with the class names,
    /// and its pictures.
    static func testFields(_ result: TestResult, train: Net, test: Net) -> [String: Any] {
        var fields: [String: Any] = ["iteration": result.iteration, "images": result.images,
                                     "outputs": Dictionary(result.outputs.map { ($0.name, Double($0.value)) }, uniquingKeysWith: { a, _ in a }),
                                     "pictures": testPictures(train: train, test: test)]
        if let confusion = result.confusion {
            fields["confusion"] = confusion
            fields["class_names"] = result.classNames
        }
        return fields
    }

    /// The blobs a test net keeps for the pictures of each test: its first data layer's first
    /// top (the images) and the first learned layer's first top (its output maps). Without
    /// them, an inference net's blobs take turns in shared memory and hold other values.
    static func keptBlobs(_ spec: NetSpec, filterLayer: String?) -> Set<String> {
        let testLayers = spec.layers.filter { $0.phase != .train }
        let data = testLayers.first { LayerRegistry.type(named: $0.type).map { $0 is any DataSource.Type } ?? false }?.tops.first
        let maps = filterLayer.flatMap { name in testLayers.first { $0.name == name }?.tops.first }
        return Set([data, maps].compactMap { $0 })
    }

    /// The first layer with learned weights: its filters are what people look at.
    static func filterLayer(_ net: Net) -> (any Layer)? { net.layers.first { !$0.params.isEmpty && $0.params[0].shape.count >= 2 } }

    /// The pictures of a test: the first learned layer's filters (from `train`), and for the
    /// first test image of the last batch, the image and that layer's output maps (from `test`,
    /// which has just run). Each is a base64 PNG with a caption; missing ones are left out.
    static func testPictures(train: Net, test: Net, limit: Int = 64) -> [String: Any] {
        var pictures: [String: Any] = [:]
        func add(_ key: String, _ grid: TileGrid, _ caption: String) {
            guard let png = try? grid.image().encodedPNG() else { return }
            pictures[key] = ["png": Data(png).base64EncodedString(), "caption": caption]
        }
        let image = test.dataSources.first.flatMap { source in test.plan.layers.firstIndex { $0 === source } }.flatMap { test.tops[$0].first }
        if let image, image.shape.count == 4 {
            let (c, h, w) = (image.shape[1], image.shape[2], image.shape[3])
            let values = (0..<(c * h * w)).map { image.data[$0] }
            add("input", TileGrid(tiles: [values], height: h, width: w, channels: c == 3 ? 3 : 1).withChannels(c), "test image ('\(image.name)', \(c)×\(h)×\(w))")
        }
        guard let layer = filterLayer(train) else { return pictures }
        let weights = layer.params[0]
        if weights.shape.count == 4 {
            let (o, i, h, w) = (weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3])
            if i == 3 {
                let tiles = (0..<min(o, limit)).map { f in (0..<(3 * h * w)).map { weights.data[f * 3 * h * w + $0] } }
                add("filters", TileGrid(tiles: tiles, height: h, width: w, channels: 3), "\(tiles.count) of \(o) filters of '\(layer.name)' (\(h)×\(w), colour)")
            } else {
                let tiles = (0..<min(o * i, limit)).map { t in (0..<(h * w)).map { weights.data[t * h * w + $0] } }
                add("filters", TileGrid(tiles: tiles, height: h, width: w, channels: 1), "\(tiles.count) of \(o * i) filter channels of '\(layer.name)' (\(h)×\(w), \(o) filters × \(i) inputs)")
            }
        } else if weights.shape.count == 2, let image, image.shape.count == 4, image.shape[1] * image.shape[2] * image.shape[3] == weights.shape[1],
                  image.shape[1] == 1 {
            // An InnerProduct over pictures: each output's weights are a picture.
            let (h, w) = (image.shape[2], image.shape[3]), size = weights.shape[1]
            let tiles = (0..<min(weights.shape[0], limit)).map { o in (0..<size).map { weights.data[o * size + $0] } }
            add("filters", TileGrid(tiles: tiles, height: h, width: w, channels: 1), "\(tiles.count) of \(weights.shape[0]) weight pictures of '\(layer.name)' (\(h)×\(w))")
        }
        if let index = test.layers.firstIndex(where: { $0.name == layer.name }), let maps = test.tops[index].first, maps.shape.count == 4 {
            let (c, h, w) = (maps.shape[1], maps.shape[2], maps.shape[3])
            let tiles = (0..<min(c, limit)).map { m in (0..<(h * w)).map { maps.data[m * h * w + $0] } }
            add("maps", TileGrid(tiles: tiles, height: h, width: w, channels: 1), "\(tiles.count) of \(c) output maps of '\(layer.name)' for that image (\(h)×\(w))")
        }
        return pictures
    }
}

private extension TileGrid {
    /// A picture of `channels` planes as one tile: colour for three, else its first plane.
    func withChannels(_ count: Int) -> TileGrid {
        guard count != 3, count != 1 else { return self }
        return TileGrid(tiles: tiles.map { Array($0.prefix(height * width)) }, height: height, width: width, channels: 1)
    }
}

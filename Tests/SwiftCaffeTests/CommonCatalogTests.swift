import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Concat, Slice, Eltwise, Flatten, Reshape, Crop, Tile, Flip, Reduction, ArgMax, Embed, Permute.
@Suite struct CommonCatalogTests {
    /// Runs a layer forward on bottoms with the given shapes and values; returns its tops.
    func forward(_ yaml: String, _ bottoms: [([Int], [Float])], tops: Int = 1) throws -> [Blob] {
        let layer = try makeLayer(yaml)
        let bottom = bottoms.map { shape, values in
            let blob = Blob(shape: shape)
            blob.setData(values)
            return blob
        }
        let top = (0..<tops).map { _ in Blob() }
        try layer.setUp(bottom: bottom, top: top)
        try layer.forward(bottom: bottom, top: top)
        return top
    }

    @Test func concatAndSliceAreInverse() throws {
        let joined = try forward("{name: c, type: Concat, axis: 1}", [([2, 1, 2], [1, 2, 3, 4]), ([2, 2, 2], [5, 6, 7, 8, 9, 10, 11, 12])])[0]
        #expect(joined.shape == [2, 3, 2])
        #expect(joined.dataArray == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
        let parts = try forward("{name: s, type: Slice, axis: 1, slice_point: [1]}", [(joined.shape, joined.dataArray)], tops: 2)
        #expect(parts[0].dataArray == [1, 2, 3, 4] && parts[1].dataArray == [5, 6, 7, 8, 9, 10, 11, 12])
        let halves = try forward("{name: s, type: Slice, axis: 0}", [([4], [1, 2, 3, 4])], tops: 2)
        #expect(halves[0].dataArray == [1, 2] && halves[1].dataArray == [3, 4])
    }

    @Test(arguments: ["{name: e, type: Eltwise, operation: SUM, coeff: [0.5, -2, 1]}", "{name: e, type: Eltwise, operation: PROD}",
                      "{name: e, type: Eltwise, operation: MAX}"])
    func eltwiseGradients(_ yaml: String) throws {
        let bottoms = [distinctBlob([2, 3, 2], spacing: 0.07, seed: 1), distinctBlob([2, 3, 2], spacing: 0.05, seed: 2), distinctBlob([2, 3, 2], spacing: 0.03, seed: 3)]
        try expectGradientsMatch(try makeLayer(yaml), bottom: bottoms)
    }

    @Test func eltwiseValues() throws {
        let a: ([Int], [Float]) = ([3], [1, -2, 3]), b: ([Int], [Float]) = ([3], [4, 5, -6])
        #expect(try forward("{name: e, type: Eltwise, coeff: [1, -1]}", [a, b])[0].dataArray == [-3, -7, 9])
        #expect(try forward("{name: e, type: Eltwise, operation: PROD}", [a, b])[0].dataArray == [4, -10, -18])
        #expect(try forward("{name: e, type: Eltwise, operation: MAX}", [a, b])[0].dataArray == [4, 5, 3])
    }

    @Test(arguments: [
        ("{name: c, type: Concat, axis: 2}", [[2, 3, 2], [2, 3, 3]]),
        ("{name: f, type: Flatten}", [[2, 3, 2]]),
        ("{name: r, type: Reshape, shape: [0, -1, 2]}", [[2, 3, 2]]),
        ("{name: t, type: Tile, axis: 1, tiles: 3}", [[2, 3, 2]]),
        ("{name: f, type: Flip}", [[2, 3, 4]]),
        ("{name: f, type: Flip, axis: 1}", [[2, 3, 4]]),
        ("{name: r, type: Reduction, operation: SUM, axis: 1, coeff: 2}", [[2, 3, 2]]),
        ("{name: r, type: Reduction, operation: MEAN, axis: 1}", [[2, 3, 2]]),
        ("{name: r, type: Reduction, operation: ASUM, axis: 0}", [[2, 3, 2]]),
        ("{name: r, type: Reduction, operation: SUMSQ, axis: 2}", [[2, 3, 2]]),
        ("{name: c, type: Crop, axis: 1, offset: [1, 0]}", [[2, 3, 4], [2, 2, 3]]),
    ] as [(String, [[Int]])])
    func gradients(_ yaml: String, _ shapes: [[Int]]) throws {
        let layer = try makeLayer(yaml)
        let bottoms = shapes.enumerated().map { index, shape in
            let blob = randomBlob(shape, seed: UInt64(index + 1), range: 0.1...1)
            blob.needsGradient = index == 0 || !yaml.contains("Crop")  // Crop's reference gets no gradient
            return blob
        }
        try expectGradientsMatch(layer, bottom: bottoms)
    }

    @Test func sliceGradient() throws {
        try expectGradientsMatch(try makeLayer("{name: s, type: Slice, axis: 1, slice_point: [1, 3]}"), bottom: [randomBlob([2, 4, 2])], topCount: 3)
    }

    @Test func reshapeFlattenTileValues() throws {
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        #expect(try forward("{name: r, type: Reshape, shape: [-1, 2]}", [([1, 2, 3], values)])[0].shape == [3, 2])
        #expect(try forward("{name: r, type: Reshape, shape: [3, 2], axis: 1}", [([1, 6], values)])[0].shape == [1, 3, 2])
        #expect(try forward("{name: f, type: Flatten, axis: 1}", [([2, 1, 3], values)])[0].shape == [2, 3])
        #expect(try forward("{name: t, type: Tile, axis: 0, tiles: 2}", [([3], [1, 2, 3])])[0].dataArray == [1, 2, 3, 1, 2, 3])
        #expect { try forward("{name: r, type: Reshape, shape: [4, -1]}", [([1, 2, 3], values)]) } throws: { "\($0)".contains("cannot infer") }
    }

    /// A 2×3 image mirrored left to right (the last axis), and one flipped upside down.
    @Test func flipReversesTheAxis() throws {
        let image: ([Int], [Float]) = ([1, 1, 2, 3], [1, 2, 3, 4, 5, 6])
        #expect(try forward("{name: f, type: Flip}", [image])[0].dataArray == [3, 2, 1, 6, 5, 4])
        #expect(try forward("{name: f, type: Flip, axis: 2}", [image])[0].dataArray == [4, 5, 6, 1, 2, 3])
        #expect(try forward("{name: f, type: Flip, axis: 0}", [image])[0].dataArray == [1, 2, 3, 4, 5, 6])
        #expect(try forward("{name: f, type: Flip}", [([], [7])])[0].dataArray == [7])  // a scalar, as a Reduction over axis 0 leaves
        #expect { try forward("{name: f, type: Flip, axis: 4}", [image]) } throws: { "\($0)".contains("axis") }
    }

    @Test func cropTakesTheOffsetWindow() throws {
        let image = (0..<16).map(Float.init)
        let top = try forward("{name: c, type: Crop, axis: 2, offset: [1, 2]}", [([1, 1, 4, 4], image), ([1, 1, 2, 2], [0, 0, 0, 0])])[0]
        #expect(top.shape == [1, 1, 2, 2] && top.dataArray == [6, 7, 10, 11])
    }

    @Test func reductionValues() throws {
        let values: [Float] = [1, -2, 3, -4]
        #expect(try forward("{name: r, type: Reduction, operation: SUM}", [([4], values)])[0].dataArray == [-2])
        #expect(try forward("{name: r, type: Reduction, operation: ASUM, axis: 1}", [([2, 2], values)])[0].dataArray == [3, 7])
        #expect(try forward("{name: r, type: Reduction, operation: SUMSQ, axis: 1, coeff: 0.5}", [([2, 2], values)])[0].dataArray == [2.5, 12.5])
        #expect(try forward("{name: r, type: Reduction, operation: MEAN, axis: 1}", [([2, 2], values)])[0].dataArray == [-0.5, -0.5])
    }

    @Test func argMax() throws {
        let scores: [Float] = [0.1, 0.7, 0.2, 0.9, 0.3, 0.3]
        #expect(try forward("{name: a, type: ArgMax}", [([2, 3], scores)])[0].dataArray == [1, 0])
        let both = try forward("{name: a, type: ArgMax, top_k: 2, out_max_val: true}", [([2, 3], scores)])[0]
        #expect(both.shape == [2, 2, 2] && both.dataArray == [1, 2, 0.7, 0.2, 0, 1, 0.9, 0.3])
        #expect(try forward("{name: a, type: ArgMax, axis: 0}", [([2, 3], scores)])[0].dataArray == [1, 0, 1])
    }

    @Test func embedLooksUpRows() throws {
        let layer = try makeLayer("{name: e, type: Embed, num_output: 2, input_dim: 3, weight_filler: gaussian, bias_filler: gaussian}")
        let indices = Blob(shape: [4])
        indices.setData([2, 0, 2, 1])
        let top = Blob()
        try layer.setUp(bottom: [indices], top: [top])
        try layer.forward(bottom: [indices], top: [top])
        let w = layer.params[0].dataArray, b = layer.params[1].dataArray
        #expect(top.shape == [4, 2])
        #expect(Array(top.dataArray[0..<2]) == [w[4] + b[0], w[5] + b[1]])
        // Gradients of the table and bias (the indices need none).
        let results = try GradientChecker().check(layer, bottom: [indices], top: [top], bottoms: [])
        #expect(results.count == 2 && results.allSatisfy { $0.passed })
    }

    @Test func permuteReordersAxes() throws {
        // N×T×D = 2×3×2 with value n·100 + t·10 + d: after [1, 0, 2] element (t, n, d) holds it.
        var values: [Float] = []
        for n in 0..<2 { for t in 0..<3 { for d in 0..<2 { values.append(Float(n * 100 + t * 10 + d)) } } }
        let timeFirst = try forward("{name: p, type: Permute, order: [1]}", [([2, 3, 2], values)])[0]
        #expect(timeFirst.shape == [3, 2, 2])
        #expect(timeFirst.dataArray == [0, 1, 100, 101, 10, 11, 110, 111, 20, 21, 120, 121])
        let channelsLast = try forward("{name: p, type: Permute, order: [0, 2, 3, 1]}", [([1, 2, 2, 3], (0..<12).map(Float.init))])[0]
        #expect(channelsLast.shape == [1, 2, 3, 2])
        #expect(channelsLast.dataArray == [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11])
        try expectGradientsMatch(try makeLayer("{name: p, type: Permute, order: [2, 0, 1]}"), bottom: [randomBlob([2, 3, 4])])
        let layer = try makeLayer("{name: p, type: Permute, order: [3, 1]}") as! any TangentLayer
        let bottom = randomBlob([2, 3, 2, 2]), top = Blob()
        try layer.setUp(bottom: [bottom], top: [top])
        #expect(try top.shape == [2, 3, 2, 2] && AdjointCheck().check(layer, bottom: [bottom], top: [top]).relativeError < 1e-6)
        #expect(throws: SwiftCaffeError.self) { try forward("{name: p, type: Permute, order: [1, 1]}", [([2, 2], [1, 2, 3, 4])]) }
        #expect(throws: SwiftCaffeError.self) { try forward("{name: p, type: Permute, order: [2]}", [([2, 2], [1, 2, 3, 4])]) }
    }
}

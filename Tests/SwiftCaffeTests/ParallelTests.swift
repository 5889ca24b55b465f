import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// The threaded and blocked kernels compute what one image at a time on one thread does.
@Suite struct ParallelTests {
    /// Runs `layer` forward and backward (top diff = `topDiff`) on `bottom` with `threads`
    /// threads; returns the top, the bottom's gradient and the parameter gradients.
    func run(_ yaml: String, bottom: Blob, topDiff: [Float], threads: Int) throws -> (top: [Float], bottomDiff: [Float], params: [[Float]]) {
        try Parallel.withThreads(threads) {
            let layer = try makeLayer(yaml)
            let top = Blob()
            try layer.setUp(bottom: [bottom], top: [top])
            try layer.forward(bottom: [bottom], top: [top])
            top.setDiff(topDiff)
            for p in layer.params { p.zeroDiff() }
            layer.backward(topDiff: [top], bottomDiff: [bottom])
            return (top.dataArray, bottom.diffArray, layer.params.map(\.diffArray))
        }
    }

    /// Threads split sums (a weight gradient adds up every image's products) and add the parts
    /// in another order, and OpenBLAS picks its kernel's blocking by the matrix sizes, which
    /// differ with the split. Products of both signs cancel, so that rounding can reach 1e-5 of
    /// the result (1.3e-5 measured on an Intel Xeon's OpenBLAS kernel, under 1e-5 on AMD EPYC).
    /// A real fault in the split (an image missed, counted twice or written to the wrong
    /// place) is an error of order 1, so 1e-4 still catches it with a wide margin.
    func expectClose(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($0), abs($1)) }.max() ?? 0
        #expect(worst < 1e-4, "\(what): relative difference \(worst)", sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        // 8·5·5 × 16·16 floats per image: one image per cache block, so 5 images make 5 blocks.
        "{name: c, type: Convolution, num_output: 6, kernel_size: 5, pad: 2, weight_filler: gaussian, bias_filler: gaussian}",
        "{name: c, type: Convolution, num_output: 3, kernel_size: 3, stride: 2, weight_filler: gaussian}",
        "{name: p, type: Pooling, pool: MAX, kernel_size: 2, stride: 2}",
        "{name: p, type: Pooling, pool: AVE, kernel_size: 3, stride: 2, pad: 1}",
        "{name: ip, type: InnerProduct, num_output: 20, weight_filler: gaussian, bias_filler: gaussian}",
        "{name: l, type: LRN, local_size: 5, alpha: 0.5, beta: 0.75}",
        "{name: l, type: LRN, local_size: 3, alpha: 2, beta: 0.6, k: 2}",
        "{name: b, type: BatchNorm}",
        "{name: s, type: Scale, bias_term: true, filler: gaussian, bias_filler: gaussian}",
    ])
    func threadedEqualsSingleThreaded(_ yaml: String) throws {
        let input = distinctBlob([5, 8, 16, 16], spacing: 0.001)
        let probe = try makeLayer(yaml)
        let top = Blob()
        try probe.setUp(bottom: [input], top: [top])
        var rng = RandomGenerator(seed: 8)
        let topDiff = (0..<top.count).map { _ in rng.uniform(-1, 1) }

        let single = try run(yaml, bottom: input, topDiff: topDiff, threads: 1)
        for threads in [2, 3] {
            let many = try run(yaml, bottom: input, topDiff: topDiff, threads: threads)
            expectClose(many.top, single.top, "forward, \(threads) threads")
            expectClose(many.bottomDiff, single.bottomDiff, "bottom gradient, \(threads) threads")
            for (a, b) in zip(many.params, single.params) { expectClose(a, b, "parameter gradient, \(threads) threads") }
        }
    }

    /// A batch of one takes other paths: InnerProduct a matrix-vector product, Convolution its
    /// GEMMs split over threads. Its output must be the first image's in a batch of three.
    @Test(arguments: [
        "{name: c, type: Convolution, num_output: 40, kernel_size: 3, pad: 1, weight_filler: gaussian, bias_filler: gaussian}",
        "{name: c, type: Convolution, num_output: 6, kernel_size: 5, group: 2, weight_filler: gaussian}",
        "{name: ip, type: InnerProduct, num_output: 70, weight_filler: gaussian, bias_filler: gaussian}",
        "{name: ip, type: InnerProduct, num_output: 33, bias_term: false, weight_filler: gaussian}",
    ])
    func aBatchOfOneMatchesTheBatchedPath(_ yaml: String) throws {
        let batch = distinctBlob([3, 8, 12, 12], spacing: 0.001), one = Blob(shape: [1, 8, 12, 12])
        one.setData(Array(batch.dataArray[0..<one.count]))
        let batched = try Parallel.withThreads(1) { () -> [Float] in
            let layer = try makeLayer(yaml), top = Blob()
            try layer.setUp(bottom: [batch], top: [top])
            try layer.forward(bottom: [batch], top: [top])
            return Array(top.dataArray[0..<(top.count / 3)])
        }
        for threads in [1, 2, 3] {
            let single = try Parallel.withThreads(threads) { () -> [Float] in
                let layer = try makeLayer(yaml), top = Blob()
                try layer.setUp(bottom: [one], top: [top])
                try layer.forward(bottom: [one], top: [top])
                return top.dataArray
            }
            expectClose(single, batched, "batch of one, \(threads) threads")
        }
    }
}

import Testing
@testable import SwiftCaffeCore
@testable import SwiftCaffeLayers

/// The direct kernels for few input channels (`ConvolutionLayer.runsDirect`) against the
/// im2col path they replace, over the edges of their tiles: output channels not a multiple
/// of 4, rows of exactly 8, of 8·k + a few (the overlapping last piece), and of 24 + 8 + 1,
/// padding, non-square kernels, no bias, and batches that split unevenly across threads.
/// They add in another order than OpenBLAS, so the bound is relative to the largest value.
@Suite struct DirectConvolutionTests {
    @Test(arguments: [
        ("num_output: 20, kernel_size: 5", [3, 1, 28, 28]),  // LeNet's conv1
        ("num_output: 13, kernel_size: 3, pad: 1", [2, 3, 7, 19]),
        ("num_output: 5, kernel_h: 4, kernel_w: 2, pad_h: 1, pad_w: 0, bias_term: false", [1, 2, 6, 9]),
        ("num_output: 4, kernel_size: 1", [5, 1, 3, 33]),
        ("num_output: 6, kernel_size: 5, pad: 2", [2, 3, 9, 10]),  // 75 multiply-adds an output, the most it takes
    ])
    func agreesWithIm2col(_ keys: String, _ shape: [Int]) throws {
        for inputGradient in [false, true] {
            func run(direct: Bool) throws -> [[Float]] {
                try ConvolutionEngine.$isEnabled.withValue(direct) {
                    let layer = try makeLayer("{name: conv, type: Convolution, \(keys), weight_filler: gaussian, bias_filler: gaussian}")
                    let bottom = randomBlob(shape), top = Blob(name: "top")
                    bottom.needsGradient = inputGradient
                    try layer.setUp(bottom: [bottom], top: [top])
                    for parameter in layer.params { _ = parameter.allocate() }
                    try layer.forward(bottom: [bottom], top: [top])
                    #expect((layer as! ConvolutionLayer).ranDirect == direct)
                    var generator = RandomGenerator(seed: 4, stream: "top-diff")
                    top.setDiff((0..<top.count).map { _ in generator.gaussian() })
                    layer.backward(topDiff: [top], bottomDiff: [bottom])
                    return [top.dataArray] + layer.params.map(\.diffArray) + (inputGradient ? [bottom.diffArray] : [])
                }
            }
            let reference = try run(direct: false), direct = try run(direct: true)
            #expect(reference.count == direct.count)
            for (index, (a, b)) in zip(direct, reference).enumerated() {
                ConvolutionEngineTests.expectClose(a, b, "\(keys), input gradient \(inputGradient), result \(index)")
            }
        }
    }

    /// Strides, dilation, groups, more than 75 multiply-adds an output and rows under 8 outputs
    /// stay on im2col.
    @Test(arguments: ["kernel_size: 3, stride: 2", "kernel_size: 3, dilation: 2", "kernel_size: 3, group: 2", "kernel_size: 5",
                      "kernel_h: 1, kernel_w: 6"])
    func otherShapesStayOnIm2col(_ keys: String) throws {
        let layer = try makeLayer("{name: conv, type: Convolution, num_output: 4, \(keys), weight_filler: gaussian}")
        let bottom = randomBlob([1, 4, 12, 12]), top = Blob(name: "top")
        try layer.setUp(bottom: [bottom], top: [top])
        let runs = (layer as! ConvolutionLayer).ranDirect
        // 12 − 5 + 1 = 8 outputs a row would qualify, 4·5·5 = 100 multiply-adds an output do not;
        // 4·1·6 = 24 would, 12 − 6 + 1 = 7 outputs a row do not.
        #expect(!runs, "\(keys)")
    }
}

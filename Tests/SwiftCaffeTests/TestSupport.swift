import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Builds one layer from a YAML mapping such as `{name: ip, type: InnerProduct, num_output: 3}`.
func makeLayer(_ yaml: String, phase: Phase = .train, seed: UInt64 = 7) throws -> any Layer {
    let spec = try LayerSpec(try YAMLParser.parse(yaml, file: "test.yaml"), index: 0, baseDirectory: "")
    let layer = try LayerRegistry.make(spec, context: LayerContext(phase: phase, seed: seed))
    try spec.rejectUnknownKeys()
    return layer
}

/// A blob of `shape` with values uniform in `range`, seeded.
func randomBlob(_ shape: [Int], seed: UInt64 = 3, range: ClosedRange<Float> = -1...1, name: String = "") -> Blob {
    let blob = Blob(name: name, shape: shape)
    var rng = RandomGenerator(seed: seed)
    for i in 0..<blob.count { blob.data[i] = rng.uniform(range.lowerBound, range.upperBound) }
    blob.needsGradient = true
    return blob
}

/// A blob whose values are distinct and at least `spacing` apart, in a random order: max
/// pooling's winner then cannot change under a finite-difference step smaller than spacing/2.
func distinctBlob(_ shape: [Int], spacing: Float = 0.05, seed: UInt64 = 5) -> Blob {
    let blob = Blob(shape: shape)
    var rng = RandomGenerator(seed: seed)
    var values = (0..<blob.count).map { Float($0) * spacing - Float(blob.count) * spacing / 2 }
    values.shuffle(using: &rng)
    blob.setData(values)
    blob.needsGradient = true
    return blob
}

/// Labels 0..<classes as floats, seeded; they need no gradient.
func labelBlob(count: Int, classes: Int, seed: UInt64 = 11) -> Blob {
    let blob = Blob(shape: [count])
    var rng = RandomGenerator(seed: seed)
    for i in 0..<count { blob.data[i] = Float(Int(rng.next() % UInt64(classes))) }
    return blob
}

/// Sets `layer` up on `bottom`, runs the gradient checker and records a test failure for any
/// blob whose analytic gradient disagrees with finite differences.
@discardableResult
func expectGradientsMatch(_ layer: any Layer, bottom: [Blob], topCount: Int = 1, checker: GradientChecker = GradientChecker(),
                          inPlace: Bool = false, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [GradientChecker.Result] {
    let top = inPlace ? [bottom[0]] : (0..<topCount).map { Blob(name: "top\($0)") }
    try layer.setUp(bottom: bottom, top: top)
    let results = try checker.check(layer, bottom: bottom, top: top)
    #expect(!results.isEmpty, sourceLocation: sourceLocation)
    for result in results {
        #expect(result.checked > 0, "\(result.blob) checked nothing", sourceLocation: sourceLocation)
        #expect(result.passed, "\(result)", sourceLocation: sourceLocation)
    }
    return results
}

/// The shared Fashion-MNIST files from Debian's dataset-fashion-mnist package.
let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"
var fashionMNISTInstalled: Bool { FileManager.default.fileExists(atPath: fashionMNISTFolder + "/t10k-images-idx3-ubyte.gz") }

/// A fresh temporary folder for one test.
func temporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "swiftcaffe-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes an IDX file of unsigned bytes with the given dimensions.
func writeIDX(_ path: String, dimensions: [Int], bytes: [UInt8]) throws {
    var data: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
    for d in dimensions { data += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
    data += bytes
    try Data(data).write(to: URL(fileURLWithPath: path))
}

extension Net {
    /// One forward pass and the weighted loss it gives.
    func forwardLoss() throws -> Float {
        try forward()
        return loss
    }
}

/// Whether a registered layer type is one this package ships (not one a test registered).
func isShippedLayer(_ type: any Layer.Type) -> Bool {
    let name = String(reflecting: type)
    return name.hasPrefix("SwiftCaffeLayers.") || name.hasPrefix("CaffeInterop.")
}

import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// SigmoidCrossEntropyLoss, HingeLoss, InfogainLoss, ContrastiveLoss, SoftmaxWithLoss's
/// label_smoothing and loss_weight.
@Suite struct LossCatalogTests {
    func targets(_ count: Int, seed: UInt64 = 4) -> Blob {
        let blob = Blob(shape: [count])
        var rng = RandomGenerator(seed: seed)
        for i in 0..<count { blob.data[i] = rng.nextUnit() }
        return blob
    }

    func value(_ yaml: String, _ bottoms: [Blob]) throws -> Float {
        let layer = try makeLayer(yaml)
        let top = Blob()
        try layer.setUp(bottom: bottoms, top: [top])
        try layer.forward(bottom: bottoms, top: [top])
        return top.data[0]
    }

    func blob(_ shape: [Int], _ values: [Float]) -> Blob {
        let b = Blob(shape: shape)
        b.setData(values)
        return b
    }

    @Test(arguments: ["", ", normalization: FULL", ", ignore_label: -1"])
    func sigmoidCrossEntropyGradient(_ keys: String) throws {
        let t = targets(12)
        if keys.contains("ignore") { t.data[3] = -1 }
        try expectGradientsMatch(try makeLayer("{name: l, type: SigmoidCrossEntropyLoss\(keys)}"), bottom: [randomBlob([3, 4], range: -3...3), t])
    }

    @Test func sigmoidCrossEntropyValue() throws {
        // x = 0, t = 1: log 2; x = 2, t = 0: log(1 + e²). Mean over 2.
        let loss = try value("{name: l, type: SigmoidCrossEntropyLoss}", [blob([2], [0, 2]), blob([2], [1, 0])])
        #expect(abs(Double(loss) - (log(2.0) + log(1 + exp(2.0))) / 2) < 1e-5)
    }

    @Test func labelSmoothingValue() throws {
        // Scores (0, ln 2): p = (1/3, 2/3). Label 1 with ε = 0.2 over 2 classes: q = (0.1, 0.9),
        // so the loss is −(0.1·ln(1/3) + 0.9·ln(2/3)); ε = 0 leaves −ln(2/3).
        let scores = blob([1, 2], [0, Float(log(2.0))]), label = blob([1], [1])
        let smoothed = try value("{name: l, type: SoftmaxWithLoss, label_smoothing: 0.2}", [scores, label])
        #expect(abs(Double(smoothed) + 0.1 * log(1.0 / 3) + 0.9 * log(2.0 / 3)) < 1e-6)
        let plain = try value("{name: l, type: SoftmaxWithLoss}", [scores, label])
        #expect(abs(Double(plain) + log(2.0 / 3)) < 1e-6)
    }

    @Test(arguments: ["L1", "L2"])
    func hingeGradient(_ norm: String) throws {
        try expectGradientsMatch(try makeLayer("{name: l, type: HingeLoss, norm: \(norm)}"),
                                 bottom: [distinctBlob([3, 4], spacing: 0.13, seed: 3), labelBlob(count: 3, classes: 4)])
    }

    @Test func hingeValue() throws {
        // Label 1 of scores (0.5, 0.2, −2): margins 1 + 0.5, 1 − 0.2, max(0, 1 − 2) → 1.5 + 0.8 + 0.
        let scores = blob([1, 3], [0.5, 0.2, -2]), labels = blob([1], [1])
        #expect(abs(try value("{name: l, type: HingeLoss}", [scores, labels]) - 2.3) < 1e-6)
        #expect(abs(try value("{name: l, type: HingeLoss, norm: L2}", [scores, labels]) - (2.25 + 0.64)) < 1e-6)
    }

    @Test func infogainGradientAndValue() throws {
        let p = randomBlob([2, 3], range: 0.1...0.9)
        let layer = try makeLayer("{name: l, type: InfogainLoss, infogain_matrix: [[1, 0.5, 0], [0, 1, 0], [0.2, 0, 2]]}")
        try expectGradientsMatch(layer, bottom: [p, labelBlob(count: 2, classes: 3)])
        // Identity H: the plain log loss −log p[label] / N.
        let identity = "{name: l, type: InfogainLoss, infogain_matrix: [[1, 0], [0, 1]]}"
        let loss = try value(identity, [blob([2, 2], [0.25, 0.75, 0.5, 0.5]), blob([2], [1, 0])])
        #expect(abs(Double(loss) - (-log(0.75) - log(0.5)) / 2) < 1e-6)
        #expect { try value("{name: l, type: InfogainLoss}", [p, labelBlob(count: 2, classes: 3)]) } throws: { "\($0)".contains("3×3 infogain matrix") }
    }

    @Test(arguments: ["", ", legacy_version: true"])
    func contrastiveGradient(_ keys: String) throws {
        let similar = blob([4], [1, 0, 0, 1])
        try expectGradientsMatch(try makeLayer("{name: l, type: ContrastiveLoss, margin: 2\(keys)}"),
                                 bottom: [randomBlob([4, 3], seed: 1), randomBlob([4, 3], seed: 2), similar])
    }

    @Test func contrastiveValue() throws {
        // Pair 1 similar at distance 5 (d² = 25); pair 2 dissimilar at distance 1 with margin 3: (3 − 1)².
        let a = blob([2, 2], [3, 4, 1, 0]), b = blob([2, 2], [0, 0, 0, 0]), y = blob([2], [1, 0])
        #expect(abs(try value("{name: l, type: ContrastiveLoss, margin: 3}", [a, b, y]) - (25 + 4) / 4) < 1e-6)
    }
}

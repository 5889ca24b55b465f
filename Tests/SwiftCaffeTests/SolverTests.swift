import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Learning-rate policies and the SGD step, against values computed by hand.
@Suite struct SolverTests {
    func solver(_ yaml: String) throws -> SolverSpec {
        try SolverSpec(try SpecMapping(try YAMLParser.parse(yaml), owner: "solver", baseDirectory: ""))
    }

    @Test func policies() throws {
        let cases: [(String, Int, Float)] = [
            ("{lr_policy: fixed, base_lr: 0.01}", 5000, 0.01),
            ("{lr_policy: step, base_lr: 0.01, gamma: 0.1, stepsize: 100}", 250, 0.0001),
            ("{lr_policy: multistep, base_lr: 0.01, gamma: 0.1, stepvalue: [100, 200]}", 150, 0.001),
            ("{lr_policy: multistep, base_lr: 0.01, gamma: 0.1, stepvalue: [100, 200]}", 200, 0.0001),
            ("{lr_policy: exp, base_lr: 0.01, gamma: 0.5}", 3, 0.00125),
            // 1.1^-0.75 = 0.931012...
            ("{lr_policy: inv, base_lr: 0.01, gamma: 0.0001, power: 0.75}", 1000, 0.00931012),
            ("{lr_policy: poly, base_lr: 0.01, power: 2}", 250, 0.005625),
            ("{lr_policy: sigmoid, base_lr: 0.01, gamma: -0.01, stepsize: 100}", 100, 0.005),
        ]
        for (yaml, iteration, expected) in cases {
            let rate = Solver(spec: try solver(yaml), parameters: [], maxIter: 1000).rate(at: iteration)
            #expect(abs(rate - expected) <= 1e-6 * max(1, expected * 1e3), "\(yaml) at \(iteration): \(rate), expected \(expected)")
        }
    }

    @Test func sgdStepWithMomentumAndDecay() throws {
        let spec = try solver("{momentum: 0.9, weight_decay: 0.1, base_lr: 0.1}")
        let w = Blob(shape: [1]), b = Blob(shape: [1])
        w.setData([1])
        b.setData([1])
        let sgd = Solver(spec: spec, parameters: [
            LearnableParameter(layer: "w", index: 0, blob: w, lrMult: 1, decayMult: 1),
            LearnableParameter(layer: "b", index: 0, blob: b, lrMult: 2, decayMult: 0),
        ], maxIter: 10)
        w.setDiff([0.5])
        b.setDiff([0.5])
        sgd.update(iteration: 0)
        // v = 0.1·(0.5 + 0.1·1) = 0.06; w = 0.94. For b: v = 0.2·0.5 = 0.1; b = 0.9.
        #expect(abs(w.data[0] - 0.94) < 1e-6)
        #expect(abs(b.data[0] - 0.9) < 1e-6)
        #expect(w.diffArray == [0] && b.diffArray == [0])  // consumed, ready to accumulate again
        w.setDiff([0.5])
        sgd.update(iteration: 1)
        // v = 0.9·0.06 + 0.1·(0.5 + 0.1·0.94) = 0.1134; w = 0.8266.
        #expect(abs(w.data[0] - 0.8266) < 1e-6)
    }

    @Test func frozenParameterDoesNotMove() throws {
        let w = Blob(shape: [2])
        w.setData([1, 2])
        w.setDiff([5, 5])
        Solver(spec: try solver("{weight_decay: 0.1, base_lr: 1}"), parameters: [LearnableParameter(layer: "w", index: 0, blob: w, lrMult: 0, decayMult: 1)],
               maxIter: 10).update(iteration: 0)
        #expect(w.dataArray == [1, 2])
        #expect(w.diffArray == [0, 0])
    }

    @Test func inconsistentSettingsAreErrors() {
        #expect(throws: SwiftCaffeError.self) { try solver("{lr_policy: step}") }
        #expect(throws: SwiftCaffeError.self) { try solver("{lr_policy: multistep, stepvalue: [200, 100]}") }
        #expect(throws: SwiftCaffeError.self) { try solver("{momentum: 1}") }
        #expect(throws: SwiftCaffeError.self) { try solver("{epochs: 0}") }
    }

    /// Two steps of each rule on w = 1 with a constant gradient 0.5; the expected weights were
    /// worked out by hand (and checked with a few lines of Python) from Caffe's formulas.
    @Test(arguments: [
        ("{type: SGD, momentum: 0.9}", 0.1, 0.95, 0.855),
        ("{type: Nesterov, momentum: 0.9}", 0.1, 0.905, 0.7695),
        ("{type: AdaGrad}", 0.1, 0.9, 0.829289322),
        ("{type: RMSProp, rms_decay: 0.99}", 0.1, 2.0e-7, -0.708880905),
        ("{type: AdaDelta, momentum: 0.95, delta: 1e-6}", 1.0, 0.995528043, 0.990999118),
        ("{type: Adam}", 0.1, 0.900000063, 0.800000108),
        ("{type: AdamW, weight_decay: 0.1}", 0.1, 0.890000063, 0.781100107),
    ] as [(String, Float, Double, Double)])
    func updateRules(_ yaml: String, rate: Float, afterOne: Double, afterTwo: Double) throws {
        let w = Blob(shape: [1])
        w.setData([1])
        var spec = try solver(yaml)
        spec.baseLR = rate
        let rule = Solver(spec: spec, parameters: [LearnableParameter(layer: "w", index: 0, blob: w, lrMult: 1, decayMult: 1)], maxIter: 10)
        for (iteration, expected) in [afterOne, afterTwo].enumerated() {
            w.setDiff([0.5])
            rule.update(iteration: iteration)
            #expect(abs(Double(w.data[0]) - expected) < 2e-6, "\(yaml) step \(iteration + 1): \(w.data[0]), expected \(expected)")
        }
    }

    @Test func l1Regularisation() throws {
        let w = Blob(shape: [2])
        w.setData([1, -1])
        w.setDiff([0.5, 0.5])
        Solver(spec: try solver("{weight_decay: 0.1, regularization_type: L1, base_lr: 0.1}"),
               parameters: [LearnableParameter(layer: "w", index: 0, blob: w, lrMult: 1, decayMult: 1)], maxIter: 10).update(iteration: 0)
        // g + 0.1·sign(w): 0.6 and 0.4.
        #expect(abs(w.data[0] - 0.94) < 1e-6 && abs(w.data[1] + 1.04) < 1e-6)
    }

    @Test func gradientClippingUsesTheGlobalNorm() throws {
        let a = Blob(shape: [1]), b = Blob(shape: [1])
        a.setData([1]); b.setData([1])
        a.setDiff([3]); b.setDiff([4])  // norm 5, clipped to 1: (0.6, 0.8)
        Solver(spec: try solver("{clip_gradients: 1, base_lr: 1}"), parameters: [
            LearnableParameter(layer: "a", index: 0, blob: a, lrMult: 1, decayMult: 1), LearnableParameter(layer: "b", index: 0, blob: b, lrMult: 1, decayMult: 1),
        ], maxIter: 10).update(iteration: 0)
        #expect(abs(a.data[0] - 0.4) < 1e-6 && abs(b.data[0] - 0.2) < 1e-6)
    }

    @Test func cosineAndWarmup() throws {
        let cosine = Solver(spec: try solver("{lr_policy: cosine, base_lr: 0.1}"), parameters: [], maxIter: 100)
        #expect(abs(cosine.rate(at: 0) - 0.1) < 1e-7)
        #expect(abs(cosine.rate(at: 50) - 0.05) < 1e-7)
        #expect(abs(cosine.rate(at: 100)) < 1e-7)
        let warm = Solver(spec: try solver("{lr_policy: fixed, base_lr: 0.1, warmup_iter: 10}"), parameters: [], maxIter: 100)
        #expect(abs(warm.rate(at: 0) - 0.01) < 1e-7)
        #expect(abs(warm.rate(at: 4) - 0.05) < 1e-7)
        #expect(abs(warm.rate(at: 50) - 0.1) < 1e-7)
    }
}

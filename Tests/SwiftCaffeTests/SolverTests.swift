import Testing
@testable import SwiftCaffe

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
            let rate = try solver(yaml).learningRate(at: iteration, maxIter: 1000)
            #expect(abs(rate - expected) <= 1e-6 * max(1, expected * 1e3), "\(yaml) at \(iteration): \(rate), expected \(expected)")
        }
    }

    @Test func sgdStepWithMomentumAndDecay() throws {
        let spec = try solver("{momentum: 0.9, weight_decay: 0.1}")
        let w = Blob(shape: [1]), b = Blob(shape: [1])
        w.setData([1])
        b.setData([1])
        let sgd = SGDSolver(spec: spec, parameters: [
            LearnableParameter(name: "w", blob: w, lrMult: 1, decayMult: 1),
            LearnableParameter(name: "b", blob: b, lrMult: 2, decayMult: 0),
        ])
        w.setDiff([0.5])
        b.setDiff([0.5])
        sgd.update(rate: 0.1)
        // v = 0.1·(0.5 + 0.1·1) = 0.06; w = 0.94. For b: v = 0.2·0.5 = 0.1; b = 0.9.
        #expect(abs(w.data[0] - 0.94) < 1e-6)
        #expect(abs(b.data[0] - 0.9) < 1e-6)
        w.setDiff([0.5])
        sgd.update(rate: 0.1)
        // v = 0.9·0.06 + 0.1·(0.5 + 0.1·0.94) = 0.1134; w = 0.8266.
        #expect(abs(w.data[0] - 0.8266) < 1e-6)
    }

    @Test func frozenParameterDoesNotMove() throws {
        let w = Blob(shape: [2])
        w.setData([1, 2])
        w.setDiff([5, 5])
        SGDSolver(spec: try solver("{weight_decay: 0.1}"), parameters: [LearnableParameter(name: "w", blob: w, lrMult: 0, decayMult: 1)]).update(rate: 1)
        #expect(w.dataArray == [1, 2])
    }

    @Test func inconsistentSettingsAreErrors() {
        #expect(throws: SwiftCaffeError.self) { try solver("{lr_policy: step}") }
        #expect(throws: SwiftCaffeError.self) { try solver("{lr_policy: multistep, stepvalue: [200, 100]}") }
        #expect(throws: SwiftCaffeError.self) { try solver("{momentum: 1}") }
        #expect(throws: SwiftCaffeError.self) { try solver("{epochs: 0}") }
    }
}

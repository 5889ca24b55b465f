import SwiftCaffeCore
import SwiftCaffeLayers

/// Checks a layer's backward pass against central finite differences (Caffe's GradientChecker
/// idea): with a fixed random linear objective f = Σ r·top, the analytic gradient that
/// backward computes for every bottom and parameter element must match (f(x+h) − f(x−h)) / 2h
/// within `tolerance` · max(|analytic|, |numeric|, 1).
///
/// Elements whose bottom value lies within `kinkRange` of `kink` are skipped, since a
/// non-differentiable point (ReLU at 0) makes the difference quotient meaningless there. On
/// real shapes and values kinks cannot all be avoided, so a mismatch is measured again with a
/// step ten times smaller, and then accepted if the analytic value equals one of the two
/// one-sided quotients (at a kink, backward must return one side's slope: a tie in a max
/// window, ReLU at 0). A wrong gradient matches neither side.
/// `maxElements` checks an evenly spread subset of each blob (large layers on real shapes).
public struct GradientChecker {
    public var step: Float = 1e-2
    public var tolerance: Float = 1e-3
    public var kink: Float?
    public var kinkRange: Float = 0
    public var seed: UInt64 = 1701
    public var maxElements: Int?

    public init(step: Float = 1e-2, tolerance: Float = 1e-3, kink: Float? = nil, kinkRange: Float = 0) {
        self.step = step
        self.tolerance = tolerance
        self.kink = kink
        self.kinkRange = kinkRange
    }

    /// The outcome for one bottom or parameter blob.
    public struct Result: CustomStringConvertible {
        /// `bottom 0` or `param 1`.
        public var blob: String
        public var checked: Int
        public var maxAbsoluteError: Float
        public var maxRelativeError: Float
        /// The first element that failed, if any: index, analytic and numeric values.
        public var firstFailure: (index: Int, analytic: Float, numeric: Float)?
        public var passed: Bool { firstFailure == nil }

        public var description: String {
            var text = "\(blob): \(checked) elements, max abs error \(maxAbsoluteError), max rel error \(maxRelativeError)"
            if let f = firstFailure { text += "; FAILED at \(f.index): analytic \(f.analytic), numeric \(f.numeric)" }
            return text
        }
    }

    /// Checks `layer` (already set up with `bottom` and `top`) on the given bottom indices
    /// (default: every bottom whose `needsGradient` is set) and on all its parameters.
    /// Bottom and parameter values are left as they were.
    public func check(_ layer: any Layer, bottom: [Blob], top: [Blob], bottoms checkedBottoms: [Int]? = nil) throws -> [Result] {
        let checkedBottoms = checkedBottoms ?? bottom.indices.filter { bottom[$0].needsGradient }
        let savedBottoms = bottom.map(\.dataArray)
        // A stateful layer's forward also reads its state (a recurrent layer's carried hidden
        // state, dropout's random stream): it is put back before every pass, so that every
        // evaluation is of the same function.
        let stateful = layer as? any StatefulLayer
        let savedState = stateful?.saveState()
        func restoreBottoms() {
            for (blob, values) in zip(bottom, savedBottoms) { blob.setData(values) }
            if let stateful, let savedState { try? stateful.restoreState(savedState) }
        }

        // The objective's random weights, one per top element; tops that are also bottoms
        // (in place) are covered by their bottom's entry.
        var rng = RandomGenerator(seed: seed)
        restoreBottoms()
        try layer.forward(bottom: bottom, top: top)
        let weights = top.map { blob in (0..<blob.count).map { _ in rng.uniform(-1, 1) } }
        func weightedSum() -> Double {
            var sum: Double = 0
            for (blob, r) in zip(top, weights) { for i in 0..<blob.count { sum += Double(blob.data[i]) * Double(r[i]) } }
            return sum
        }
        func objective() throws -> Double {
            restoreBottoms()
            try layer.forward(bottom: bottom, top: top)
            return weightedSum()
        }

        // Analytic gradients.
        _ = try objective()
        for param in layer.params { param.zeroDiff() }
        for index in checkedBottoms { bottom[index].zeroDiff() }
        for (blob, r) in zip(top, weights) { blob.setDiff(r) }  // after zeroing: in place, a top is its bottom
        layer.backward(topDiff: top, bottomDiff: bottom)
        let analyticBottoms = checkedBottoms.map { bottom[$0].diffArray }
        let analyticParams = layer.params.map(\.diffArray)

        var results: [Result] = []
        for (position, index) in checkedBottoms.enumerated() {
            results.append(try compare("bottom \(index)", count: bottom[index].count, analytic: analyticBottoms[position],
                                   original: savedBottoms[index]) { i, value in
                restoreBottoms()  // and the state: a dropout mask drawn anew would be another function
                bottom[index].data[i] = value
                try layer.forward(bottom: bottom, top: top)
                return weightedSum()
            })
        }
        for (index, param) in layer.params.enumerated() {
            let original = param.dataArray
            results.append(try compare("param \(index)", count: param.count, analytic: analyticParams[index], original: original) { i, value in
                param.data[i] = value
                let result = try objective()
                param.data[i] = original[i]
                return result
            })
        }
        restoreBottoms()
        try layer.forward(bottom: bottom, top: top)
        return results
    }

    private func compare(_ name: String, count: Int, analytic: [Float], original: [Float],
                         evaluate: (Int, Float) throws -> Double) throws -> Result {
        var result = Result(blob: name, checked: 0, maxAbsoluteError: 0, maxRelativeError: 0)
        let stride = maxElements.map { max(1, count / max($0, 1)) } ?? 1
        for i in Swift.stride(from: 0, to: count, by: stride) {
            let x = original[i]
            if let kink, abs(x - kink) < kinkRange { continue }
            func fails(_ numeric: Float) -> Bool { abs(analytic[i] - numeric) > tolerance * max(abs(analytic[i]), abs(numeric), 1) }
            var numeric = try Float((evaluate(i, x + step) - evaluate(i, x - step)) / (2 * Double(step)))
            if fails(numeric) {
                // Again with a smaller step; if still off, a kink may sit right at x (a tie in
                // a max window): there the analytic gradient must equal one one-sided quotient.
                let h = step / 10
                let plus = try evaluate(i, x + h), minus = try evaluate(i, x - h)
                numeric = Float((plus - minus) / (2 * Double(h)))
                if fails(numeric) {
                    let center = try evaluate(i, x)
                    let sides = [Float((plus - center) / Double(h)), Float((center - minus) / Double(h))]
                    if let side = sides.first(where: { !fails($0) }) { numeric = side }
                }
            }
            let error = abs(analytic[i] - numeric)
            let scale = max(abs(analytic[i]), abs(numeric), 1)
            result.checked += 1
            result.maxAbsoluteError = max(result.maxAbsoluteError, error)
            result.maxRelativeError = max(result.maxRelativeError, error / scale)
            if error > tolerance * scale && result.firstFailure == nil {
                result.firstFailure = (i, analytic[i], numeric)
            }
        }
        return result
    }
}

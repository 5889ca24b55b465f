import SwiftCaffeCore
import SwiftCaffeLayers

/// The adjoint (dot-product) test of a layer's backward against its forward mode: for random
/// directions v (on the bottoms that take gradients, and on the parameters) and w (on the
/// tops), ⟨J·v, w⟩ from `forwardTangent` must equal ⟨v, Jᵀ·w⟩ from `backward`. Both sides are
/// exact up to rounding, so unlike a finite difference it needs no step, is not fooled by a
/// kink (a ReLU at 0, a tie in a max window: both passes take the same branch) and its
/// tolerance is Float's precision, not one tuned per layer.
public struct AdjointCheck {
    public var seed: UInt64 = 1729

    public init(seed: UInt64 = 1729) { self.seed = seed }

    /// The two sides and their relative difference, |a − b| / max(|a|, |b|, 1e-30).
    public struct Result: CustomStringConvertible {
        public var forwardMode: Double
        public var reverseMode: Double
        public var relativeError: Double { abs(forwardMode - reverseMode) / max(abs(forwardMode), abs(reverseMode), 1e-30) }
        /// Both sides sum Float products in Double, so they differ by Float rounding of the
        /// layers' own arithmetic only: about 1e-6 relative, 1e-4 with a wide margin. A wrong
        /// backward (a missing factor, a swapped index) is off by far more.
        public var passed: Bool { relativeError < 1e-4 }

        public var description: String {
            "⟨J·v, w⟩ = \(forwardMode), ⟨v, Jᵀ·w⟩ = \(reverseMode), relative error \(relativeError)"
        }
    }

    /// Runs the test on `layer`, already set up with `bottom` and `top`. Bottoms whose
    /// `needsGradient` is false (labels) are held fixed; parameters vary unless
    /// `parameters` is false. One forward pass serves both modes (so a dropout mask or a max
    /// window's winner is the same in both): backward first, then the tangents, which leave
    /// the values alone. Leaves the bottoms' values as they were; overwrites diffs.
    public func check(_ layer: any TangentLayer, bottom: [Blob], top: [Blob], parameters: Bool = true) throws -> Result {
        var rng = RandomGenerator(seed: seed)
        func random(_ blob: Blob, zero: Bool = false) -> Blob {
            let direction = Blob(name: blob.name + "'", shape: blob.shape)
            if !zero { for i in 0..<blob.count { direction.data[i] = rng.uniform(-1, 1) } }
            return direction
        }
        let saved = bottom.map(\.dataArray)
        defer { for (blob, values) in zip(bottom, saved) { blob.setData(values) } }
        try layer.forward(bottom: bottom, top: top)

        // Reverse mode: the tops' diffs are w (in place, a top's diff is its bottom's).
        let w = top.map { random($0) }
        for (blob, weight) in zip(top, w) { blob.diff.update(from: weight.data, count: blob.count) }
        for parameter in layer.params { parameter.zeroDiff() }
        // A bottom backward does not reach (Accuracy's scores) then reads as a zero gradient.
        for blob in bottom where blob.needsGradient && !top.contains(where: { $0 === blob }) { blob.zeroDiff() }
        layer.backward(topDiff: top, bottomDiff: bottom)
        let bottomTangent = bottom.map { random($0, zero: !$0.needsGradient) }
        // Statistics that the solver does not learn (BatchNorm's) get no direction: backward
        // gives them no gradient to compare with.
        let parameterTangent = parameters ? layer.params.indices.map { random(layer.params[$0], zero: !layer.isLearnable(parameter: $0)) } : nil
        var reverseMode = 0.0
        for (blob, tangent) in zip(bottom, bottomTangent) where blob.needsGradient { reverseMode += dot(tangent.data, blob.diff, blob.count) }
        for (parameter, tangent) in zip(layer.params, parameterTangent ?? []) { reverseMode += dot(tangent.data, parameter.diff, parameter.count) }

        // Forward mode on the same forward pass; in place, a top's tangent is its bottom's.
        let topTangent = top.map { blob in bottom.firstIndex { $0 === blob }.map { bottomTangent[$0] } ?? Blob(name: blob.name + "'", shape: blob.shape) }
        layer.forwardTangent(bottom: bottom, bottomTangent: bottomTangent, top: top, topTangent: topTangent, parameterTangent: parameterTangent)
        var forwardMode = 0.0
        for (tangent, weight) in zip(topTangent, w) { forwardMode += dot(tangent.data, weight.data, tangent.count) }
        return Result(forwardMode: forwardMode, reverseMode: reverseMode)
    }
}

private func dot(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ count: Int) -> Double {
    var sum = 0.0
    for i in 0..<count { sum += Double(a[i]) * Double(b[i]) }
    return sum
}

extension AdjointCheck {
    /// The adjoint test of a whole net: random directions on its parameters (those it learns)
    /// and on the blobs named in `inputs`, the tangent of its weighted loss from
    /// `Net.forwardTangents` against the same directions dotted with backward's gradients.
    /// An input must have been named in the net's `inputGradients`, so that backward computes
    /// its gradient. Both passes see the same batch and the same dropout masks: every
    /// stateful layer's state is restored between them.
    public func check(net: Net, inputs: [String] = []) throws -> Result {
        var rng = RandomGenerator(seed: seed)
        for name in inputs where net.blobs[name]?.needsGradient != true {
            throw SwiftCaffeError("the net gives no gradient to '\(name)'", hint: "build it with inputGradients: [\"\(name)\"] (or name a blob it has)")
        }
        let saved = net.layerStates()
        func restore() throws { try net.restoreLayerStates(saved) }
        let parameterDirections = net.parameters.map { parameter in
            (0..<parameter.blob.count).map { _ in parameter.lrMult > 0 ? rng.uniform(-1, 1) : 0 }
        }
        var inputDirections: [String: [Float]] = [:]
        for name in inputs { inputDirections[name] = (0..<net.blobs[name]!.count).map { _ in rng.uniform(-1, 1) } }

        let tangents = try net.forwardTangents(inputs: inputDirections, parameters: parameterDirections)
        let forwardMode = net.lossTangent(tangents)

        try restore()
        net.zeroParameterDiffs()
        try net.forward()
        net.backward()
        var reverseMode = 0.0
        for (parameter, direction) in zip(net.parameters, parameterDirections) {
            for i in 0..<parameter.blob.count { reverseMode += Double(direction[i]) * Double(parameter.blob.diff[i]) }
        }
        for (name, direction) in inputDirections {
            let blob = net.blobs[name]!
            for i in 0..<blob.count { reverseMode += Double(direction[i]) * Double(blob.diff[i]) }
        }
        try restore()
        return Result(forwardMode: forwardMode, reverseMode: reverseMode)
    }
}

import Foundation

/// How a learnable parameter is initialised: Caffe's fillers with Caffe's formulas.
///
/// `xavier` draws from U(-a, a) with a = sqrt(3 / n) and `msra` from N(0, 2 / n), where n is
/// the fan-in (default), fan-out or their average (`variance_norm`). As in Caffe, for a blob
/// of shape (num, ...) the fan-in is count / num and the fan-out count / dim(1).
///
/// `gaussian` with `sparse` k ≥ 0 keeps each weight with probability k / num (about k inputs
/// per output, for a num×... weight), zeroing the rest. `bilinear` gives a Deconvolution the
/// weights of bilinear upsampling (FCN), each K×K kernel the same. `positive_unitball` draws
/// uniformly in [0, 1] and scales each of the `num` rows to sum to 1.
///
/// Net files write a filler as a bare name or a mapping; `Spec/FillerSpec+YAML.swift` reads them.
public struct FillerSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case constant, uniform, gaussian, xavier, msra, bilinear
        case positiveUnitball = "positive_unitball"
    }
    public enum VarianceNorm: String, Sendable, CaseIterable { case fanIn = "FAN_IN", fanOut = "FAN_OUT", average = "AVERAGE" }

    public var kind: Kind
    public var value: Float = 0
    public var min: Float = 0
    public var max: Float = 1
    public var mean: Float = 0
    public var std: Float = 1
    public var varianceNorm: VarianceNorm = .fanIn
    /// Gaussian only: about this many non-zero weights per output; -1 keeps them all.
    public var sparse = -1

    public init(_ kind: Kind, value: Float = 0, min: Float = 0, max: Float = 1, mean: Float = 0, std: Float = 1) {
        self.kind = kind
        self.value = value
        self.min = min
        self.max = max
        self.mean = mean
        self.std = std
    }

    public static let zero = FillerSpec(.constant)

    /// Fills `blob.data` according to this spec.
    public func fill(_ blob: Blob, using rng: inout RandomGenerator) {
        let count = blob.count
        let data = blob.data
        let fanIn = Float(count) / Float(Swift.max(blob.num, 1))
        let fanOut = blob.shape.count > 1 ? Float(count) / Float(Swift.max(blob.shape[1], 1)) : fanIn
        let n: Float = switch varianceNorm {
        case .fanIn: fanIn
        case .fanOut: fanOut
        case .average: (fanIn + fanOut) / 2
        }
        switch kind {
        case .constant:
            data.update(repeating: value, count: count)
        case .uniform:
            for i in 0..<count { data[i] = rng.uniform(min, max) }
        case .gaussian:
            for i in 0..<count { data[i] = rng.gaussian(mean: mean, std: std) }
            if sparse >= 0 {
                let keep = Float(sparse) / Float(Swift.max(blob.num, 1))
                for i in 0..<count where rng.uniform(0, 1) >= keep { data[i] = 0 }
            }
        case .bilinear:
            let height = blob.shape.count >= 2 ? blob.shape[blob.shape.count - 2] : 1, width = blob.shape.last ?? 1
            let f = (Float(width) / 2).rounded(.up)
            let c = (2 * f - 1 - Float(Int(f) % 2)) / (2 * f)
            for i in 0..<count {
                let x = Float(i % width), y = Float((i / width) % height)
                data[i] = (1 - abs(x / f - c)) * (1 - abs(y / f - c))
            }
        case .positiveUnitball:
            let rows = Swift.max(blob.num, 1), size = count / rows
            for row in 0..<rows {
                var sum: Float = 0
                for j in 0..<size {
                    data[row * size + j] = rng.uniform(0, 1)
                    sum += data[row * size + j]
                }
                for j in 0..<size { data[row * size + j] /= sum }
            }
        case .xavier:
            let scale = (3 / n).squareRoot()
            for i in 0..<count { data[i] = rng.uniform(-scale, scale) }
        case .msra:
            let std = (2 / n).squareRoot()
            for i in 0..<count { data[i] = rng.gaussian(mean: 0, std: std) }
        }
    }
}

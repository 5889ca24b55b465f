import Foundation

/// A small, fast, seedable generator (xoshiro256**) so that runs with the same seed are
/// bit-for-bit identical on every machine. Its state is four words, easy to snapshot.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the four state words from one integer with SplitMix64, as the xoshiro authors advise.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// A generator for one named consumer (a layer's filler, a data layer's shuffle), derived
    /// from the run's seed. Deriving by name rather than by creation order is what makes a net
    /// file train identically whatever order its layers are written in.
    public init(seed: UInt64, stream: String) {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in stream.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        self.init(seed: seed ^ hash)
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextUnit() }

    /// Normal(mean, std) by Box–Muller.
    public mutating func gaussian(mean: Float = 0, std: Float = 1) -> Float {
        let u1 = Double(next() >> 11) * 0x1p-53
        let u2 = Double(next() >> 11) * 0x1p-53
        let radius = (-2 * log(max(u1, .leastNonzeroMagnitude))).squareRoot()
        return mean + std * Float(radius * cos(2 * Double.pi * u2))
    }
}

extension RandomGenerator {
    /// The state as text, for solver-state files.
    public var stateDescription: String { "\(state.0) \(state.1) \(state.2) \(state.3)" }

    /// nil unless `text` is four numbers, not all zero (xoshiro's one state that never leaves
    /// zero: a shuffle drawing from it would loop forever).
    public init?(stateDescription text: String) {
        let words = text.split(separator: " ").compactMap { UInt64($0) }
        guard words.count == 4, words.contains(where: { $0 != 0 }) else { return nil }
        self.init(seed: 0)
        state = (words[0], words[1], words[2], words[3])
    }
}

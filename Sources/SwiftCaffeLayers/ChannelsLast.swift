import SwiftCaffeCore

/// A layer that can work on blobs laid out N×H×W×C ("channels last") in memory, the layout
/// oneDNN's convolution kernels run on. A blob's `shape` stays N×C×H×W either way; only
/// the order of its values changes.
///
/// In an inference net the `ChannelsLastLayout` pass keeps a 4-D blob channels-last when
/// the layer writing it and every layer reading it adopt this protocol, so that a run of
/// convolutions (ResNet's blocks: convolutions, their folded BatchNorms and ReLUs, the
/// residual sums; GoogLeNet's inception blocks: pooling, LRN and concatenation between them)
/// reorders its data once where it starts and once where it ends, not twice per convolution.
/// Everything a user can read (outputs, kept blobs) stays N×C×H×W.
package protocol ChannelsLastCapable: Layer {
    /// How the layer's blobs may be laid out (`.alike` unless it says otherwise).
    var channelsLastRule: ChannelsLastRule { get }
    /// Whether it can now (a convolution only when its engine is on).
    var canUseChannelsLast: Bool { get }
    /// Tells the layer the layouts of its first bottom and first top (for `.alike`, of all
    /// its blobs). A layer that treats every value alike (a sum, a copy, a ReLU) works in
    /// either and need not listen.
    func useChannelsLast(bottom: Bool, top: Bool)
}

/// Which layouts a `ChannelsLastCapable` layer's blobs may take together.
package enum ChannelsLastRule: Sendable {
    /// It reads and writes either layout, as long as all its blobs share one (a sum,
    /// pooling, LRN, concatenation along channels).
    case alike
    /// Its first bottom and first top each take either layout (a convolution, whose engine
    /// reorders as it reads and writes).
    case eachEnd
}

extension ChannelsLastCapable {
    package var channelsLastRule: ChannelsLastRule { .alike }
    package var canUseChannelsLast: Bool { true }
    package func useChannelsLast(bottom: Bool, top: Bool) {}
}

/// Index arithmetic shared by the layers that read N×H×W×C blobs.
package enum ChannelsLastCopy {
    /// Copies an N×C×H×W blob into N×H×W×C order, or back (`toChannelsLast` false), in
    /// blocks of 16 positions so that both sides are read and written a cache line at a time.
    package static func reorder(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, shape: [Int], toChannelsLast: Bool) {
        let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3])
        Parallel.forChunks(of: n * ((plane + 15) / 16)) { _, items in
            let blocks = (plane + 15) / 16
            for item in items {
                let image = item / blocks, first = (item % blocks) * 16, last = min(first + 16, plane)
                let planar = image * c * plane, interleaved = image * plane * c
                for channel in 0..<c {
                    for p in first..<last {
                        if toChannelsLast {
                            target[interleaved + p * c + channel] = source[planar + channel * plane + p]
                        } else {
                            target[planar + channel * plane + p] = source[interleaved + p * c + channel]
                        }
                    }
                }
            }
        }
    }
}


/// A layer that can work on blobs laid out N×H×W×C ("channels last") in memory, the layout
/// oneDNN's convolution kernels run on. A blob's `shape` stays N×C×H×W either way; only
/// the order of its values changes.
///
/// In an inference net the `ChannelsLastLayout` pass keeps a 4-D blob channels-last when
/// the layer writing it and every layer reading it adopt this protocol, so that a run of
/// convolutions (ResNet's blocks: convolutions, their folded BatchNorms and ReLUs, the
/// residual sums) reorders its data once where it starts and once where it ends, not twice
/// per convolution. Everything a user can read (outputs, kept blobs) stays N×C×H×W.
package protocol ChannelsLastCapable: Layer {
    /// True for a layer that treats every value alike (a sum, a copy): it then works in any
    /// layout, as long as its bottoms and tops share one. False for a layer that reads and
    /// writes each layout itself (`useChannelsLast`).
    var isElementwise: Bool { get }
    /// Whether it can now (a convolution only when its engine is on).
    var canUseChannelsLast: Bool { get }
    /// Tells a layer that is not elementwise the layouts of its first bottom and first top.
    func useChannelsLast(bottom: Bool, top: Bool)
}

extension ChannelsLastCapable {
    package var canUseChannelsLast: Bool { true }
    package func useChannelsLast(bottom: Bool, top: Bool) {}
}

import SwiftCaffeCore
import SwiftCaffeSpec

// The layer contract, and every capability a layer may adopt besides it. A net asks for a
// capability by casting (`layer as? any StatefulLayer`); a layer without it still works
// everywhere but in the tools that need it.
//
// - `Layer` (this file): keys, set-up, forward, backward; counts of bottoms and tops; loss,
//   in-place and parameter facts.
// - `DataSource`: reads a data set, defines what an epoch is, and rewinds before each test.
// - `DatasetLayer` (Data/): a data source over a data set of samples in a seeded, resumable order.
// - `StatefulLayer`: saves and restores state beyond its parameters, for exact resuming.
// - `TangentLayer`: forward-mode differentiation; every built-in that computes from its
//   bottoms adopts it (tests hold them to it), a custom layer may.
// - `IndexConsumer`, `LabelConsumer`: bottoms that hold indices or class labels, which the
//   net checks before each forward.
// - `PictureSource`: turns one picture into a sample as the layer serves them (classify).
// - `ReLUFusing`: applies a ReLU written in place after it (the net's folding pass).
// - `ChannelsLastCapable`: works on N×H×W×C blobs, which an inference net keeps between
//   such layers.
// - `ParameterCaching`: keeps its parameters in another form in an inference net, until the
//   net says they changed.

/// The layer contract, Caffe's `layer.hpp` in Swift.
///
/// - `init(spec:context:)` reads the layer's keys through `spec` (unknown keys, wrong types and
///   ranges are then reported for free by the net).
/// - `setUp(bottom:top:)` checks the bottoms' shapes, creates `params` (deferred: the net
///   allocates and fills them once it has checked the whole net fits in memory), and shapes
///   the tops. Every problem is a thrown `SwiftCaffeError`, never a crash; the net adds the
///   layer's name and place in the file.
/// - `forward(bottom:top:)` computes the tops. A loss layer writes its loss into its first
///   top; the net reads the loss from there. A failure on what it reads (a damaged image in
///   a data set) is a thrown error; a layer that cannot fail implements it without `throws`.
/// - `backward(topDiff:bottomDiff:)` reads the tops' diffs, **writes** the diffs of bottoms whose
///   `needsGradient` is set, and **adds** parameter gradients into `params[i].diff` (the solver
///   zeroes them; accumulation is what makes `iter_size` and weight sharing work).
///
/// A layer may always be written in place (top and bottom the same blob). `supportsInPlace`
/// says whether it can really share the blob; if not (its backward needs its input), the net
/// keeps the value before it under another name (see `NetSchedule`). Nor may a later layer
/// overwrite the top of one whose backward reads it (`backwardReadsTop`: ReLU, Sigmoid, Softmax).
public protocol Layer: AnyObject {
    init(spec: LayerSpec, context: LayerContext) throws

    /// The spec the layer was built from (its name, type and keys).
    var spec: LayerSpec { get }
    /// Learnable parameters. The net may replace a blob here with a shared one of the same shape,
    /// so layers must read their parameters through this array rather than cache them.
    var params: [Blob] { get set }

    func setUp(bottom: [Blob], top: [Blob]) throws
    func forward(bottom: [Blob], top: [Blob]) throws
    func backward(topDiff top: [Blob], bottomDiff bottom: [Blob])

    /// How many bottoms and tops the layer accepts.
    static var bottomCount: ClosedRange<Int> { get }
    static var topCount: ClosedRange<Int> { get }
    /// A loss layer's first top is its loss; the net weights it (default 1) and seeds its diff.
    static var isLoss: Bool { get }
    static var supportsInPlace: Bool { get }
    /// Whether backward reads the top's values (y′ from y), which an in-place layer after it
    /// would overwrite.
    static var backwardReadsTop: Bool { get }
    /// Whether the solver updates parameter `index`. BatchNorm's running statistics are
    /// parameters (so they are saved and shared with the test net) but not learned.
    func isLearnable(parameter index: Int) -> Bool
    /// Floating-point operations of one forward pass at the set-up shapes (multiply and add
    /// count as two), for `swiftcaffe summary`. An estimate; 0 when negligible or unknown.
    var forwardFLOPs: Int { get }
}

extension Layer {
    public static var bottomCount: ClosedRange<Int> { 1...1 }
    public static var topCount: ClosedRange<Int> { 1...1 }
    public static var isLoss: Bool { false }
    public static var supportsInPlace: Bool { false }
    public static var backwardReadsTop: Bool { false }
    public var forwardFLOPs: Int { 0 }
    public func isLearnable(parameter index: Int) -> Bool { true }
    public var name: String { spec.name }

    /// A `SwiftCaffeError` attributed to this layer and its place in the file.
    public func error(_ message: String, hint: String? = nil) -> SwiftCaffeError {
        SwiftCaffeError(message, at: spec.location, layer: spec.description, hint: hint)
    }
}

/// Resolves a possibly negative axis against a rank, or explains the valid range.
func canonicalAxis(_ axis: Int, rank: Int, layer: some Layer) throws -> Int {
    guard axis >= -rank && axis < rank else {
        throw layer.error("'axis' is \(axis) but the bottom has \(rank) axes", hint: "use an axis in \(-rank)..<\(rank)")
    }
    return axis < 0 ? axis + rank : axis
}

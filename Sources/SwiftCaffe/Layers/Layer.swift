/// What a layer knows about the net it is built into.
public struct LayerContext: Sendable {
    public var phase: Phase
    /// The run's seed; a layer derives its own stream with `rng(_:)`.
    public var seed: UInt64
    /// The part of each batch the data layers serve (all of it, but in data-parallel training).
    public var shard: DataShard
    /// Scratch memory shared by the layers of one net (see `ScratchArena`).
    public var scratch: ScratchArena

    public init(phase: Phase, seed: UInt64, shard: DataShard = .whole, scratch: ScratchArena = ScratchArena()) {
        self.phase = phase
        self.seed = seed
        self.shard = shard
        self.scratch = scratch
    }

    /// A generator for one purpose of one layer (e.g. `rng("conv1/weights")`). It depends on the
    /// seed and the name only, never on the order layers are built in.
    public func rng(_ stream: String) -> RandomGenerator { RandomGenerator(seed: seed, stream: stream) }

    /// A parameter blob `<layer>.<role>` of `shape`, filled by `filler` from its own stream
    /// `<layer>/<role>` when the net allocates it (after checking that the net fits in memory).
    /// A shape too large to allocate is an error, not a crash.
    public func parameter(_ layer: String, _ role: String, shape: [Int], filler: FillerSpec) throws -> Blob {
        guard checkedCount(shape) != nil else {
            throw SwiftCaffeError("parameter '\(role)' of shape \(shape) is too large (over 2³¹ values)",
                                  hint: "check num_output and the sizes of the layer's inputs")
        }
        var generator = rng("\(layer)/\(role)")
        return Blob(deferred: "\(layer).\(role)", shape: shape) { blob in filler.fill(blob, using: &generator) }
    }
}

/// The layer contract, Caffe's `layer.hpp` in Swift.
///
/// - `init(spec:context:)` reads the layer's keys through `spec` (unknown keys, wrong types and
///   ranges are then reported for free by the net).
/// - `setUp(bottom:top:)` checks the bottoms' shapes, allocates and fills `params`, and shapes
///   the tops. Every problem is a thrown `SwiftCaffeError`, never a crash.
/// - `forward(bottom:top:)` computes the tops and returns the loss (0 unless a loss layer).
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
    func forward(bottom: [Blob], top: [Blob]) -> Float
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
    /// Layers that produce data (no bottoms) and define what an epoch is.
    var dataSource: DataSource? { get }
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
    public var dataSource: DataSource? { nil }
    public var forwardFLOPs: Int { 0 }
    public func isLearnable(parameter index: Int) -> Bool { true }
    public var name: String { spec.name }

    /// A `SwiftCaffeError` attributed to this layer and its place in the file.
    public func error(_ message: String, hint: String? = nil) -> SwiftCaffeError {
        SwiftCaffeError(message, at: spec.location, layer: spec.description, hint: hint)
    }
}

/// A layer that reads a data set: how big an epoch is, and where it stands in it.
public protocol DataSource: AnyObject {
    var sampleCount: Int { get }
    var batchSize: Int { get }
    /// The largest label in the data set, if it has labels; the net checks it against the
    /// number of classes of every loss or accuracy layer the labels feed.
    var labelMaximum: Int? { get }
    /// Names of the classes by label, if the net file gives them (`label_names:`).
    var labelNames: [String] { get }
    /// Restarts at the first sample of the pass (used before each full test pass).
    func rewind()
    /// What a sample is, plural, for progress lines and reports: "images" (the default),
    /// "rows", "characters".
    var sampleNoun: String { get }
}

extension DataSource {
    public var sampleNoun: String { "images" }
}

/// A layer whose forward can fail on what it reads (a damaged image in a data set): it fills
/// what it can, keeps the error, and the net throws it right after the layer's forward.
public protocol ForwardFailing: Layer {
    /// The error of the last forward, if it had one; reading it clears it.
    func takeForwardError() -> SwiftCaffeError?
}

/// A data layer that prepares batches on a background thread (`BatchPrefetcher`): what it
/// cost there, and how long forward waited for it.
public protocol PrefetchingDataSource: DataSource {
    var prefetchStatistics: (batches: Int, preparingSeconds: Double, waitingSeconds: Double) { get }
}

/// A bottom whose values are indices, and the values it accepts.
public struct IndexBottom: Sendable {
    public var slot: Int
    public var range: Range<Int>
    /// A value that is skipped rather than checked (Caffe's `ignore_label`).
    public var skip: Int?
    /// What an index is, for messages: "class label", "embedding index".
    public var what: String

    public init(slot: Int, range: Range<Int>, skip: Int? = nil, what: String) {
        self.slot = slot
        self.range = range
        self.skip = skip
        self.what = what
    }
}

/// A layer some of whose bottoms hold indices (class labels, embedding rows). Before each of
/// the layer's forward passes the net checks every such value, so a label of −1, 2.5, 1e30 or
/// NaN (say from a Log layer applied to the labels) is an error naming the layer, the value
/// and the iteration, never a trap or a silently wrong loss.
public protocol IndexConsumer: Layer {
    /// Valid after `setUp`.
    var indexBottoms: [IndexBottom] { get }
}

/// A layer whose second bottom holds class labels that index the first bottom's `axis`
/// (softmax losses, accuracy). The net also checks the data set's largest label against
/// `classCount` while building, so a mismatch is an error before training, not a wrong loss.
public protocol LabelConsumer: IndexConsumer {
    /// Valid after `setUp`.
    var classCount: Int { get }
    /// A label value that is skipped rather than checked (Caffe's `ignore_label`).
    var ignoreLabel: Int? { get }
}

extension LabelConsumer {
    public var indexBottoms: [IndexBottom] {
        [IndexBottom(slot: 1, range: 0..<classCount, skip: ignoreLabel, what: "class label")]
    }
}

/// Resolves a possibly negative axis against a rank, or explains the valid range.
func canonicalAxis(_ axis: Int, rank: Int, layer: some Layer) throws -> Int {
    guard axis >= -rank && axis < rank else {
        throw layer.error("'axis' is \(axis) but the bottom has \(rank) axes", hint: "use an axis in \(-rank)..<\(rank)")
    }
    return axis < 0 ? axis + rank : axis
}


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

import SwiftCaffeData
import SwiftCaffeSpec

/// What a net is built for, which decides how far its plan may be rewritten for speed.
public enum NetPurpose: Sendable {
    /// Every layer runs as written: for gradient checks, forward mode, and looking at every blob.
    case asWritten
    /// Training: a BatchNorm with batch statistics applies the Scale and the ReLU written in
    /// place after it, forward and backward, in one pass each way instead of three.
    case training
    /// Forward only (testing, classifying, timing inference): everything `InPlaceFolding`
    /// can fold, blobs take turns in shared memory (`BlobSharing`), and backward is refused.
    case inference
}

/// How to build a net from its spec: one value for every choice a caller can make.
public struct NetOptions {
    /// Which of the file's layers the net holds.
    public var phase: Phase
    /// The run's seed: every filler, shuffle and dropout mask draws from a stream derived from it.
    public var seed: UInt64
    public var purpose: NetPurpose
    /// The part of each batch the data layers serve (all of it, but in data-parallel training).
    public var shard: DataShard
    /// Blobs that get gradients from backward as if something upstream learned (a data
    /// layer's images): for saliency, and for checking forward mode along input directions.
    public var inputGradients: Set<String>
    /// Blobs whose values must still be there after forward in an inference net, where blobs
    /// otherwise take turns in shared memory (the outputs, scores and labels always are).
    public var keeping: Set<String>
    /// A net whose parameter blobs the layers of the same name use rather than their own: the
    /// test net shares the train net's weights.
    public var sharingParametersWith: Net?

    public init(phase: Phase, seed: UInt64 = 1, purpose: NetPurpose = .asWritten, shard: DataShard = .whole,
                inputGradients: Set<String> = [], keeping: Set<String> = [], sharingParametersWith: Net? = nil) {
        self.phase = phase
        self.seed = seed
        self.purpose = purpose
        self.shard = shard
        self.inputGradients = inputGradients
        self.keeping = keeping
        self.sharingParametersWith = sharingParametersWith
    }
}

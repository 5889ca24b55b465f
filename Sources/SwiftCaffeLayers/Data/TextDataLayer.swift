import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeData
import SwiftCaffeSpec

/// A plain-text file read as characters, for character-level recurrent nets. The text is cut
/// into `batch_size` streams, contiguous stretches of equal length that are read side by side,
/// `sequence_length` characters at a time. Tops, each T×N (T = sequence_length, N = streams):
///
/// - `data`: character indices (into the vocabulary: the file's distinct characters, sorted),
/// - `cont`: Caffe's continuation markers, 0 where a stream starts (or wraps round) and 1
///   elsewhere, so an LSTM carries its state from one batch to the next (truncated
///   back-propagation through time),
/// - `label` (optional third top): the character that follows each one, the target.
///
/// Keys: `source` (the file, UTF-8), `sequence_length`, `batch_size`, and `start`, `end`
/// (0 and 1: the part of the file to read, as fractions of its characters), so that a train
/// and a test layer can read disjoint parts of one file with the same vocabulary.
///
/// An epoch is one pass over the part; `batch_size` for epochs and speeds is the characters
/// per batch, T·N. In data-parallel training the text is cut into N streams per rank and
/// rank r reads the r-th N of them, so R ranks read what one process with R·N streams reads.
public final class TextDataLayer: Layer, DataSource, StatefulLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 0...0 }
    public static var topCount: ClosedRange<Int> { 2...3 }

    package let source: String
    let steps: Int
    let streams: Int
    /// This rank's share of the streams: it reads streams rank·N ..< (rank+1)·N of count·N.
    let shard: DataShard
    let start: Double, end: Double
    /// The file's distinct characters in order; a character's index is its position here.
    public private(set) var vocabulary: [Unicode.Scalar] = []
    /// The part of the text this layer reads, as vocabulary indices.
    private var text: [Int32] = []
    /// Characters per stream, and how far every stream has read.
    private var streamLength = 0
    private var position = 0
    public private(set) var epoch = 0

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        source = try spec.path("source")
        steps = try spec.int("sequence_length", in: 1...1_000_000)
        streams = try spec.int("batch_size", in: 1...1_000_000)
        shard = context.shard
        start = Double(try spec.float("start", default: 0, in: 0...1))
        end = Double(try spec.float("end", default: 1, in: 0...1))
        guard start < end else { throw spec.error("'start' (\(start)) must be below 'end' (\(end))", at: spec.node("start")) }
    }

    public var sampleCount: Int { text.count - 1 }
    public var batchSize: Int { steps * streams }
    public var labelMaximum: Int? { vocabulary.isEmpty ? nil : vocabulary.count - 1 }
    public var labelNames: [String] { vocabulary.map { String(Character($0)) } }
    public var sampleNoun: String { "characters" }
    /// Every top is T×N: the streams are the second axis.
    public func batchAxis(ofTop index: Int) -> Int { 1 }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        // The bytes, the decoded String, its scalars and their indices.
        try MemoryBudget.require(toRead: source, copies: 14, for: "reading '\(source)'")
        let data = try FileChecks.contents(of: source, what: "the text file")
        // Invalid UTF-8 becomes U+FFFD rather than an error: the model learns it as one more character.
        let scalars = Array(String(decoding: data, as: UTF8.self).unicodeScalars)
        vocabulary = Array(Set(scalars)).sorted { $0.value < $1.value }
        let index = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, Int32($0)) })
        let first = Int((start * Double(scalars.count)).rounded(.down)), last = Int((end * Double(scalars.count)).rounded(.down))
        text = scalars[first..<last].map { index[$0]! }
        streamLength = (text.count - 1) / allStreams
        guard streamLength >= steps else {
            throw error("'\(source)' gives \(text.count) characters from \(start) to \(end) of it: fewer than \(allStreams) streams of \(steps) characters and a target",
                        hint: "use a longer text, a wider start…end, or a smaller batch_size or sequence_length")
        }
        position = 0
        epoch = 0
        for blob in top { try blob.reshape([steps, streams]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let data = top[0].data, cont = top[1].data, label = top.count == 3 ? top[2].data : nil
        for t in 0..<steps {
            if position + 1 > streamLength {  // every stream has read its stretch: wrap round
                position = 0
                epoch += 1
            }
            for n in 0..<streams {
                let at = (shard.rank * streams + n) * streamLength + position
                data[t * streams + n] = Float(text[at])
                cont[t * streams + n] = position == 0 ? 0 : 1
                label?[t * streams + n] = Float(text[at + 1])
            }
            position += 1
        }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}

    public func rewind() { position = 0 }

    /// The streams of all ranks together.
    private var allStreams: Int { streams * shard.count }

    public func saveState() -> LayerState {
        var state = LayerState()
        state.values = ["position": "\(position)", "epoch": "\(epoch)", "characters": "\(text.count)", "streams": "\(allStreams)"]
        return state
    }

    public func restoreState(_ state: LayerState) throws {
        guard state.values["characters"] == "\(text.count)", state.values["streams"] == "\(allStreams)",
              let position = state.values["position"].flatMap({ Int(wholeText: $0, in: 0...streamLength) }),
              let epoch = state.values["epoch"].flatMap({ Int(wholeText: $0, in: 0...SolverSpec.iterationLimit) }) else {
            throw error("the saved text position does not fit this text (\(text.count) characters in \(allStreams) streams)",
                        hint: "resume with the net file and text the snapshot was trained with")
        }
        self.position = position
        self.epoch = epoch
    }
}

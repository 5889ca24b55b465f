import Foundation
import SwiftCaffeCore
import SwiftCaffeLayers
import SwiftCaffeSpec

/// Generates text from a trained character-level net (`swiftcaffe sample`): feeds one
/// character at a time into the net's `TextData` tops and draws the next from the scores the
/// loss reads, softened or sharpened by a temperature.
///
/// The net must be built for one stream of one step (`TextGenerator.spec(for:)` sets that).
/// Its recurrent layers then carry their state from each character to the next on their own:
/// without `expose_hidden` a pass starts where the last one ended, and cont = 1 says to go on.
public final class TextGenerator {
    let net: Net
    let text: TextDataLayer
    let characters: String, markers: String
    let scores: Blob
    private var started = false

    /// The spec with every TextData layer reading one stream one character at a time.
    public static func spec(for spec: NetSpec) throws -> NetSpec {
        let isText: (LayerSpec) -> Bool = { $0.type == "TextData" }
        return try spec.setting("batch_size", to: "1", inLayers: isText).setting("sequence_length", to: "1", inLayers: isText)
    }

    /// `scores` names the blob of class scores (default: the first bottom of the loss that
    /// reads the TextData layer's targets).
    public init(net: Net, scores name: String? = nil) throws {
        guard let index = net.layers.firstIndex(where: { $0 is TextDataLayer }), let text = net.layers[index] as? TextDataLayer else {
            throw SwiftCaffeError("the net has no TextData layer, so there is no alphabet to write in",
                                  hint: "sample a character-level net such as nets/char_rnn.yaml")
        }
        let tops = net.tops[index]
        guard tops[0].count == 1 else {
            throw SwiftCaffeError("the TextData layer '\(text.name)' serves \(tops[0].count) characters a pass; generating needs one",
                                  hint: "build the net from TextGenerator.spec(for:)")
        }
        var scoresName = name
        if scoresName == nil, tops.count == 3 {
            scoresName = net.layers.indices.first { type(of: net.layers[$0]).isLoss && net.bottoms[$0].contains { net.plan.unsplit($0) === tops[2] } }
                .map { net.plan.unsplit(net.bottoms[$0][0]).name }
        }
        guard let scoresName, let scores = net.blobs[scoresName] else {
            throw SwiftCaffeError(name.map { "the net has no blob '\($0)'" } ?? "no loss reads the TextData layer's targets, so which blob holds the scores is unknown",
                                  hint: "name the blob of class scores with --scores")
        }
        guard scores.count >= text.vocabulary.count else {
            throw SwiftCaffeError("'\(scoresName)' holds \(scores.count) scores for an alphabet of \(text.vocabulary.count) characters",
                                  hint: "--scores names the blob with one score per character")
        }
        self.net = net
        self.text = text
        self.scores = scores
        characters = tops[0].name
        markers = tops[1].name
    }

    /// Feeds `prime`, then draws `length` characters; returns them (without the prime).
    /// Temperature 1 samples the net's distribution, lower is more conservative, and 0 always
    /// takes the likeliest character.
    public func generate(prime: String, length: Int, temperature: Float, seed: UInt64) throws -> String {
        let alphabet = Dictionary(uniqueKeysWithValues: text.vocabulary.enumerated().map { ($1, $0) })
        var indices: [Int] = []
        for scalar in prime.unicodeScalars {
            guard let index = alphabet[scalar] else {
                throw SwiftCaffeError("the prime's character \(scalar.escaped(asASCII: true)) never occurs in the text '\(text.source)'",
                                      hint: "prime with characters of the text the net was trained on")
            }
            indices.append(index)
        }
        guard !indices.isEmpty else { throw SwiftCaffeError("the prime is empty", hint: "give at least one character to start from") }
        var rng = RandomGenerator(seed: seed, stream: "sample")
        for index in indices.dropLast() { try step(index) }
        var next = indices.last!, output = String.UnicodeScalarView()
        for _ in 0..<length {
            try step(next)
            next = draw(temperature: temperature, using: &rng)
            output.append(text.vocabulary[next])
        }
        return String(output)
    }

    /// One pass with `index` as the character; the first pass starts a sequence (cont = 0).
    private func step(_ index: Int) throws {
        _ = try net.forward(replacing: [characters: [Float(index)], markers: [started ? 1 : 0]])
        started = true
    }

    /// A character drawn from softmax(scores / temperature) over the alphabet.
    private func draw(temperature: Float, using rng: inout RandomGenerator) -> Int {
        let count = text.vocabulary.count, values = scores.data
        var best = 0
        for i in 1..<count where values[i] > values[best] { best = i }
        guard temperature > 0 else { return best }
        let weights = (0..<count).map { Double(expf((values[$0] - values[best]) / temperature)) }
        let total = weights.reduce(0, +)
        var target = Double(rng.uniform(0, 1)) * total
        for i in 0..<count {
            target -= weights[i]
            if target <= 0 { return i }
        }
        return best
    }
}

import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeData
import SwiftCaffeSpec

/// Reads a numeric table from a CSV file and serves mini-batches, for tabular problems: top 0
/// is the features (N×F, times `scale`), top 1 the label column (N). Keys: `source` (the
/// file), `batch_size`, `label_column` (the 0-based column holding the label, −1 for the last;
/// absent with one top: no labels), `header` (false: whether the first line names the
/// columns), `delimiter` (","), `scale` (1), `shuffle` (false), `label_names`.
///
/// Every cell must be a finite number; a cell that is not, a label that is not a class index
/// (a whole number from 0 to 2²⁴, exact in a Float), or a row with another number of cells is
/// an error naming the file, line and column. Lines may end in LF or CRLF.
public final class CSVDataLayer: Layer, DatasetLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    package static let sampleNoun = "rows"

    package let keys: DatasetKeys
    package let source: String
    let labelColumn: Int?
    let header: Bool
    let delimiter: Character
    let scale: Float
    /// Where the layer stands in its data set.
    private var samples: SampleCursor
    package var cursor: (any DataCursor)? { samples }
    private var features: [Float] = []
    private var labels: [Float] = []
    private var featureCount = 0
    public var labelMaximum: Int? { labels.max().flatMap { Int(whole: $0) } }

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        source = try spec.path("source")
        keys = try DatasetKeys(spec, context: context)
        labelColumn = try spec.optionalInt("label_column")
        header = try spec.bool("header", default: false)
        let delimiterText = try spec.string("delimiter", default: ",")
        guard delimiterText.count == 1 else { throw spec.error("'delimiter' must be one character, found '\(delimiterText)'", at: spec.node("delimiter")) }
        delimiter = delimiterText.first!
        scale = try spec.float("scale", default: 1)
        samples = SampleCursor(keys.order(count: 0))
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        if top.count == 2 && labelColumn == nil {
            throw error("two tops (data, label) but no 'label_column'", hint: "add 'label_column: <index>' (-1 for the last column)")
        }
        // The text, and the Floats parsed from it (at most one per two characters).
        try MemoryBudget.require(toRead: source, copies: 3, for: "reading '\(source)'")
        guard let text = String(data: try FileChecks.contents(of: source, what: "the CSV file"), encoding: .utf8) else {
            throw error("cannot read the CSV file '\(source)' (missing, unreadable or not UTF-8)")
        }
        var rows = 0
        var width: Int?
        // Split on any line break: "\r\n" is one Character in Swift, so splitting on "\n" alone
        // would see a CRLF file as a single line.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || (header && index == 0) { continue }
            let cells = trimmed.split(separator: delimiter, omittingEmptySubsequences: false)
            if width == nil {
                width = cells.count
                if let labelColumn, !(-cells.count..<cells.count).contains(labelColumn) {
                    throw error("'label_column' is \(labelColumn) but '\(source)' has \(cells.count) columns")
                }
            }
            guard cells.count == width else {
                throw SwiftCaffeError("row has \(cells.count) cells, the first row \(width!)", at: FileLocation(file: source, line: index + 1, column: 1),
                                      layer: spec.description, hint: "every row needs the same columns")
            }
            let label = labelColumn.map { $0 < 0 ? cells.count + $0 : $0 }
            var column = 1
            for (position, cell) in cells.enumerated() {
                let here = FileLocation(file: source, line: index + 1, column: column)
                guard let value = Float(cell.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                    throw SwiftCaffeError("'\(cell)' is not a number", at: here,
                                          layer: spec.description, hint: header ? "only numbers after the header" : "if the first line names the columns, set header: true")
                }
                if position == label {
                    if top.count == 2, Int(whole: value, in: 0...(1 << 24)) == nil {
                        throw SwiftCaffeError("label \(cell) is not a class index (a whole number from 0 to 2²⁴)", at: here, layer: spec.description,
                                              hint: "use a regression loss with the label as a feature, or fix the label column")
                    }
                    labels.append(value)
                } else {
                    guard (value * scale).isFinite else {
                        throw SwiftCaffeError("\(cell) times scale \(scale) is not a finite Float", at: here, layer: spec.description, hint: "lower 'scale' or the value")
                    }
                    features.append(value * scale)
                }
                column += cell.count + 1
            }
            rows += 1
        }
        guard rows > 0, let width else { throw error("'\(source)' holds no rows") }
        featureCount = width - (labelColumn == nil ? 0 : 1)
        guard featureCount > 0 else { throw error("'\(source)' has no feature columns besides the label") }
        samples = SampleCursor(keys.order(count: rows))
        try top[0].reshape([batchSize, featureCount])
        if top.count == 2 { try top[1].reshape([batchSize]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let data = top[0].data
        for item in 0..<batchSize {
            let sample = samples.next()
            features.withUnsafeBufferPointer { (data + item * featureCount).update(from: $0.baseAddress! + sample * featureCount, count: featureCount) }
            if top.count == 2 { top[1].data[item] = labels[sample] }
        }
    }
}

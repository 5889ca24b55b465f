import Foundation
import SwiftCaffeCore
import SwiftCaffeData
import SwiftCaffeIO
import SwiftCaffeSpec

/// Caffe's `HDF5Data`: arrays from HDF5 files, one dataset per top, named like the top.
///
/// `source` is a text file listing `.h5` files, one per line (relative to the list's folder
/// when relative). Each file holds, for every top, an N×... dataset; the rows of all files are
/// served in order, or shuffled with `shuffle: true` (one seeded order over all rows, where
/// Caffe shuffles the files and the rows within each). Any number type is read as float.
/// Every file is read at set-up and kept in memory, which suits the data sets HDF5Data is
/// used for (features and regression targets), not image collections: for those use Data
/// or ImageData. No transform applies, as in Caffe.
public final class HDF5DataLayer: Layer, DatasetLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    package static let sampleNoun = "rows"
    public static var topCount: ClosedRange<Int> { 1...16 }

    package let keys: DatasetKeys
    let listPath: String
    /// Where the layer stands in its data set.
    private var samples: SampleCursor
    package var cursor: (any DataCursor)? { samples }
    /// Per top: its rows, concatenated over the files, and one row's size.
    private var rows: [[Float]] = []
    private var rowSizes: [Int] = []
    private var labelTop: Int?
    public var labelMaximum: Int? {
        guard let labelTop else { return nil }
        return rows[labelTop].max().flatMap { Int(whole: $0) }
    }

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        listPath = try spec.path("source")
        keys = try DatasetKeys(spec, context: context)
        samples = SampleCursor(keys.order(count: 0))
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard let listText = String(data: try FileChecks.contents(of: listPath, what: "the list of HDF5 files"), encoding: .utf8) else {
            throw error("cannot read the list of HDF5 files '\(listPath)'", hint: "'source' names a text file with one .h5 path per line")
        }
        let folder = URL(fileURLWithPath: listPath).deletingLastPathComponent().path
        let files = listText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !files.isEmpty else { throw error("the list '\(listPath)' names no HDF5 files") }
        let names = spec.tops
        // First every file's shapes, so that the rows are checked against the memory budget
        // and allocated once, at their full size, before any value is read.
        var shapes: [[Int]?] = Array(repeating: nil, count: names.count)
        var counts: [Int] = []
        var paths: [String] = []
        for (line, file) in files.enumerated() {
            let path = SpecMapping.resolve(file, against: folder)
            let datasets: [String: [Int]]
            do { datasets = try HDF5File.shapes(path: path, datasets: names) } catch let error as SwiftCaffeError {
                throw SwiftCaffeError(error.message, at: FileLocation(file: listPath, line: line + 1, column: 1), layer: spec.description, hint: error.hint)
            }
            let count = datasets[names[0]]![0]
            for (index, name) in names.enumerated() {
                let shape = datasets[name]!
                let rowShape = Array(shape.dropFirst())
                guard shape[0] == count else {
                    throw error("'\(path)': the dataset '\(name)' has \(shape[0]) rows, '\(names[0])' \(count)", hint: "every top's dataset needs one row per sample")
                }
                if let known = shapes[index], known != rowShape {
                    throw error("'\(path)': rows of '\(name)' are \(rowShape), in the first file \(known)", hint: "every file must hold rows of one shape")
                }
                shapes[index] = rowShape
            }
            counts.append(count)
            paths.append(path)
        }
        let total = counts.reduce(0) { $0.addingReportingOverflow($1).overflow ? .max : $0 + $1 }
        guard total > 0 else { throw error("the HDF5 files of '\(listPath)' hold no rows") }
        guard total < Int(Int32.max) else { throw error("\(total) rows; SwiftCaffe numbers samples with 32 bits", hint: "split the data set") }
        let floats = names.indices.reduce(0.0) { $0 + Double(total) * Double(shapes[$1]!.reduce(1, *)) }
        try MemoryBudget.require(floats: floats, for: "the \(total) rows of the HDF5 files of '\(listPath)'")
        rows = names.indices.map { [Float](repeating: 0, count: total * shapes[$0]!.reduce(1, *)) }
        rowSizes = Array(repeating: 0, count: names.count)
        var offset = 0
        for (path, count) in zip(paths, counts) {
            for (index, name) in names.enumerated() {
                let size = shapes[index]!.reduce(1, *)
                try rows[index].withUnsafeMutableBufferPointer { rows in
                    try HDF5File.read(path: path, dataset: name, into: UnsafeMutableBufferPointer(rebasing: rows[(offset * size)..<((offset + count) * size)]))
                }
            }
            offset += count
        }
        for index in names.indices {
            rowSizes[index] = shapes[index]!.reduce(1, *)
            // A label column (N or N×1) serves as labels, for confusion matrices and label checks.
            if names[index] == "label" && rowSizes[index] == 1 { labelTop = index }
            let shape = shapes[index]!
            try top[index].reshape([batchSize] + (shape == [1] && names[index] == "label" ? [] : shape))
        }
        samples = SampleCursor(keys.order(count: total))
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        for item in 0..<batchSize {
            let sample = samples.next()
            for index in top.indices {
                let size = rowSizes[index]
                rows[index].withUnsafeBufferPointer { (top[index].data + item * size).update(from: $0.baseAddress! + sample * size, count: size) }
            }
        }
    }
}

import Foundation
import SwiftCaffeCore
import SwiftCaffeIO

/// The CSV log of a run, one row per displayed iteration and per test, written beside the
/// snapshots as `<prefix>_log.csv`:
///
///     iteration,epoch,seconds,lr,train_loss,test_loss,test_accuracy
///
/// Cells that do not apply to a row are empty. Rows are appended whole (`AppendedLines`), so
/// the log survives a crash and never ends in half a row. A resumed run keeps the rows up to
/// its iteration and appends.
public final class TrainingLog {
    public static let header = "iteration,epoch,seconds,lr,train_loss,test_loss,test_accuracy"
    public var path: String { file.path }
    private let file: AppendedLines

    /// Starts a log at `path`, or continues one from `resumingAt` (dropping later rows).
    public init(path: String, resumingAt iteration: Int? = nil) throws {
        var kept = [Self.header]
        if let iteration, (try? FileChecks.requireRegularFile(path)) != nil, let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            kept += existing.split(separator: "\n").dropFirst().filter { line in
                // Only whole rows of earlier iterations: a row cut by a crash has fewer cells.
                let cells = line.split(separator: ",", omittingEmptySubsequences: false)
                return cells.count == 7 && (Int(cells[0]) ?? .max) <= iteration
            }.map(String.init)
        }
        file = try AppendedLines(path: path, startingWith: kept, what: "the log")
    }

    public func append(iteration: Int, epoch: Double, seconds: Double, learningRate: Float? = nil,
                       trainLoss: Float? = nil, testLoss: Float? = nil, testAccuracy: Float? = nil) throws {
        func cell(_ value: Float?) -> String { value.map { "\($0)" } ?? "" }
        try file.append("\(iteration),\(String(format: "%.4f", epoch)),\(String(format: "%.2f", seconds)),\(cell(learningRate)),"
            + "\(cell(trainLoss)),\(cell(testLoss)),\(cell(testAccuracy))")
    }
}

extension TrainingLog {
    /// One row of a log; cells that do not apply to the row are nil.
    public struct Row: Equatable, Sendable {
        public var iteration: Int
        public var epoch: Double
        public var seconds: Double
        public var learningRate: Double?
        public var trainLoss: Double?
        public var testLoss: Double?
        public var testAccuracy: Double?
    }

    /// Reads a log written by `swiftcaffe train`; anything else is an error naming the file and line.
    public static func read(path: String) throws -> [Row] {
        guard let text = String(data: try FileChecks.contents(of: path, what: "the log"), encoding: .utf8) else {
            throw SwiftCaffeError("the log '\(path)' is not UTF-8 text")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first.map(String.init) == header else {
            throw SwiftCaffeError("'\(path)' is not a SwiftCaffe training log", at: FileLocation(file: path, line: 1, column: 1),
                                  hint: "its first line should be '\(header)'")
        }
        return try lines.enumerated().dropFirst().map { index, line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) }
            guard cells.count == 7, let iteration = cells[0].flatMap(Int.init(exactly:)), let epoch = cells[1], let seconds = cells[2] else {
                throw SwiftCaffeError("malformed row", at: FileLocation(file: path, line: index + 1, column: 1),
                                      hint: "each row has 7 comma-separated cells, the first three numbers")
            }
            return Row(iteration: iteration, epoch: epoch, seconds: seconds, learningRate: cells[3],
                       trainLoss: cells[4], testLoss: cells[5], testAccuracy: cells[6])
        }
    }
}

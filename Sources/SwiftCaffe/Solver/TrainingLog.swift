import Foundation

/// The CSV log of a run, one row per displayed iteration and per test, written beside the
/// snapshots as `<prefix>_log.csv`:
///
///     iteration,epoch,seconds,lr,train_loss,test_loss,test_accuracy
///
/// Cells that do not apply to a row are empty. Each row is flushed as it is written, so the
/// log survives a crash; a resumed run keeps the rows up to its iteration and appends.
public final class TrainingLog {
    public static let header = "iteration,epoch,seconds,lr,train_loss,test_loss,test_accuracy"
    public let path: String
    private let handle: FileHandle

    /// Starts a log at `path`, or continues one from `resumingAt` (dropping later rows).
    public init(path: String, resumingAt iteration: Int? = nil) throws {
        self.path = path
        var kept = [Self.header]
        if let iteration, let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            kept += existing.split(separator: "\n").dropFirst().filter { line in
                (Int(line.split(separator: ",", omittingEmptySubsequences: false).first ?? "") ?? .max) <= iteration
            }.map(String.init)
        }
        try AtomicFile.write(Array((kept.joined(separator: "\n") + "\n").utf8), to: path)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw SwiftCaffeError("cannot write the log '\(path)'") }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    public func append(iteration: Int, epoch: Double, seconds: Double, learningRate: Float? = nil,
                       trainLoss: Float? = nil, testLoss: Float? = nil, testAccuracy: Float? = nil) {
        func cell(_ value: Float?) -> String { value.map { "\($0)" } ?? "" }
        let row = "\(iteration),\(String(format: "%.4f", epoch)),\(String(format: "%.2f", seconds)),\(cell(learningRate)),"
            + "\(cell(trainLoss)),\(cell(testLoss)),\(cell(testAccuracy))\n"
        handle.write(Data(row.utf8))
    }
}

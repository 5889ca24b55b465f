import Foundation
import SwiftCaffeCore
import SwiftCaffeIO

/// What a run did beyond its CSV log, as JSON lines beside it (`<prefix>_events.jsonl`): what
/// `swiftcaffe board` and `train --monitor` show. One object a line, each with an `event`:
///
/// - `start`: the net's name, the run's length, batch, data set size, solver, threads, the
///   process (`pid`, `host`) and the train net's graph as SVG. A resumed run adds another.
/// - `status`: iteration, epoch, seconds, smoothed loss, learning rate and images/s; at most
///   one a second, and at every displayed iteration.
/// - `layers`: at displayed iterations, each layer's mean forward and backward ms since the
///   last, and each parameter's L2 norms: the weights after the update, the mean gradient
///   (what the solver was given, before weight decay and clipping) and the update.
/// - `test`: the test's outputs, the confusion matrix and class names, and pictures as base64
///   PNG: the first learned layer's filters, and for one test image the image and that
///   layer's output maps.
/// - `snapshot`, and `end` with the outcome (`finished`, `interrupted` or `failed` and why).
///
/// Lines are appended whole (`AppendedLines`), as the CSV log's rows; a resumed run keeps the
/// lines up to its iteration. Non-finite numbers are written as null.
public final class TrainingRecord {
    public var path: String { file.path }
    private let file: AppendedLines
    /// Called after each line is appended.
    public var appended: () -> Void = {}

    /// Starts a record at `path`, or continues one from `resumingAt` (dropping later lines).
    public init(path: String, resumingAt iteration: Int? = nil) throws {
        var kept: [String] = []
        if let iteration, (try? FileChecks.requireRegularFile(path)) != nil, let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            kept = existing.split(separator: "\n").filter { line in
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return false }
                return (object["iteration"] as? Int).map { $0 <= iteration } ?? true
            }.map(String.init)
        }
        file = try AppendedLines(path: path, startingWith: kept, what: "the record")
    }

    /// Appends `fields` with `"event": event` as one line.
    public func append(_ event: String, _ fields: [String: Any]) throws {
        var object = fields
        object["event"] = event
        let data = try JSONSerialization.data(withJSONObject: Self.finite(object), options: [.sortedKeys])
        try file.append(String(decoding: data, as: UTF8.self))
        appended()
    }

    /// JSON has no NaN or infinity: those become null, everywhere in `value`.
    static func finite(_ value: Any) -> Any {
        switch value {
        case let number as Double: return number.isFinite ? number : NSNull()
        case let number as Float: return number.isFinite ? Double(number) : NSNull()
        case let array as [Any]: return array.map(finite)
        case let object as [String: Any]: return object.mapValues(finite)
        default: return value
        }
    }
}

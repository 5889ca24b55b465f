import Foundation
import SwiftCaffe

/// Turns training events into output: on a terminal a live line (iteration, epoch, loss,
/// learning rate, images/s, ETA) redrawn in place, with tests and snapshots as lines above
/// it; elsewhere (CI, logs) a plain line every `display` iterations.
final class ProgressDisplay {
    let batchImages: Int
    /// "img/s", or the data source's own samples per second ("characters/s").
    let speedUnit: String
    let live: Bool
    let quiet: Bool
    let verbose: Bool
    private var lineShown = false

    init(batchImages: Int, sampleNoun: String = "images", live: Bool, quiet: Bool, verbose: Bool) {
        self.batchImages = batchImages
        speedUnit = sampleNoun == "images" ? "img/s" : sampleNoun + "/s"
        self.live = live
        self.quiet = quiet
        self.verbose = verbose
    }

    func show(_ event: TrainingEvent) {
        guard !quiet else { return }
        switch event {
        case let .progress(progress) where live:
            let eta = Double(progress.maxIter - progress.iteration) * Double(batchImages) / max(progress.imagesPerSecond, 1e-9)
            // Cut to the terminal's width: a line that wraps is not redrawn in place.
            let line = status(progress) + "  ETA " + duration(eta)
            print("\r\u{1B}[K" + String(line.prefix(max(Self.terminalColumns - 1, 20))), terminator: "")
            fflush(nil)
            lineShown = true
        case let .progress(progress):
            if progress.isDisplayed { permanent(status(progress)) }
        case let .test(result):
            permanent("test  iter \(result.iteration): " + describe(result))
            if verbose, let table = confusionTable(result) { permanent(table) }
        case let .snapshot(weights, _):
            if verbose { permanent("snapshot \(weights)") }
        case let .replicasAgree(checksum):
            if verbose { permanent(String(format: "weights identical on every rank (checksum %016llx)", checksum)) }
        }
    }

    /// The terminal's width in columns (80 when it cannot be asked).
    static var terminalColumns: Int {
        var size = winsize()
        return ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    func finish() {
        if lineShown { print("") }
        lineShown = false
    }

    private func permanent(_ text: String) {
        if lineShown { print("\r\u{1B}[K", terminator: "") }
        printLine(text)
        lineShown = false
    }

    private func status(_ p: TrainingProgress) -> String {
        String(format: "iter %6d/%d  epoch %5.2f  loss %.4f  lr %.6g  %6.0f %@", p.iteration, p.maxIter, p.epoch, p.loss, p.learningRate, p.imagesPerSecond, speedUnit)
            + (p.communicationSeconds > 0 ? String(format: "  sync %.1f ms/iter", p.communicationSeconds * 1000) : "")
    }

    private func duration(_ seconds: Double) -> String {
        guard let s = Int(whole: seconds.rounded(), in: 0...(1 << 40)) else { return "–" }  // no estimate yet
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

/// `accuracy 0.8567  loss 0.4123  (10000 images)`.
func describe(_ result: TestResult) -> String {
    result.outputs.map { String(format: "%@ %.4f", $0.name, $0.value) }.joined(separator: "  ") + "  (\(result.images) \(result.sampleNoun))"
}

/// The confusion matrix (rows: truth, columns: prediction) and per-class accuracy.
func confusionTable(_ result: TestResult) -> String? {
    guard let confusion = result.confusion, let perClass = result.perClassAccuracy else { return nil }
    let labels = confusion.indices.map { result.classNames[$0] == "\($0)" ? "\($0)" : "\($0) \(result.classNames[$0])" }
    let labelWidth = labels.map(\.count).max() ?? 1
    let cellWidth = max(6, String(confusion.flatMap { $0 }.max() ?? 0).count + 1)
    func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
    func left(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
    var lines = ["confusion matrix (rows: true class, columns: predicted class)"]
    lines.append(left("", labelWidth) + confusion.indices.map { right("\($0)", cellWidth) }.joined() + "  accuracy")
    for (row, counts) in confusion.enumerated() {
        lines.append(left(labels[row], labelWidth) + counts.map { right("\($0)", cellWidth) }.joined() + String(format: "  %8.4f", perClass[row]))
    }
    return lines.joined(separator: "\n")
}

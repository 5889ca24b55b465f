import Foundation

/// Learning curves from training logs (`<prefix>_log.csv`) as an SVG picture: the loss (train
/// solid, test dashed) on the left, the test accuracy on the right, one colour per log, a
/// legend naming each log, against iterations or seconds.
public struct TrainingPlot {
    /// One log's series.
    public struct Run {
        public var name: String
        public var train: [(x: Double, loss: Double)] = []
        public var testLoss: [(x: Double, loss: Double)] = []
        public var testAccuracy: [(x: Double, accuracy: Double)] = []
    }

    public enum Axis: String, CaseIterable, Sendable { case iteration, seconds }

    public var runs: [Run]
    public var axis: Axis

    /// Reads logs written by `swiftcaffe train`; anything else is an error naming the file and line.
    public init(logs: [String], axis: Axis) throws {
        self.axis = axis
        runs = try logs.map { path in
            var run = Run(name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)
            for row in try TrainingLog.read(path: path) {
                let x = axis == .iteration ? Double(row.iteration) : row.seconds
                if let loss = row.trainLoss, loss.isFinite { run.train.append((x, loss)) }
                if let loss = row.testLoss, loss.isFinite { run.testLoss.append((x, loss)) }
                if let accuracy = row.testAccuracy, accuracy.isFinite { run.testAccuracy.append((x, accuracy)) }
            }
            return run
        }
        // Logs of the same name from different folders (runs/a/lenet_log, runs/b/lenet_log)
        // are told apart by their folder.
        let names = runs.map(\.name)
        for index in runs.indices where names.filter({ $0 == names[index] }).count > 1 {
            let folder = URL(fileURLWithPath: logs[index]).deletingLastPathComponent().lastPathComponent
            runs[index].name = folder + "/" + runs[index].name
        }
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

    /// The picture as SVG text.
    public func svg(width: Double = 960, height: Double = 420) -> String {
        let panelWidth = (width - 40) / 2
        var body = ""
        let xs = runs.flatMap { $0.train.map(\.x) + $0.testLoss.map(\.x) + $0.testAccuracy.map(\.x) }
        // 2 % to spare at each end, so the first and last markers sit inside the frame.
        let (xLow, xHigh) = (xs.min() ?? 0, max(xs.max() ?? 1, (xs.min() ?? 0) + 1))
        let xRange = (xLow - 0.02 * (xHigh - xLow), xHigh + 0.02 * (xHigh - xLow))
        let losses = runs.flatMap { $0.train.map(\.loss) + $0.testLoss.map(\.loss) }
        let lossRange = (0.0, max(losses.max() ?? 1, 1e-3) * 1.05)
        let accuracies = runs.flatMap { $0.testAccuracy.map(\.accuracy) }
        let accuracyRange = (max(0, (accuracies.min() ?? 0) - 0.05).rounded(.down, toStep: 0.05), (accuracies.max() ?? 1) + 0.02)
        let xLabel = axis == .iteration ? "iteration" : "seconds"

        var lossPanel = Panel(left: 20, top: 40, width: panelWidth, height: height - 110, x: xRange, y: lossRange,
                              title: "loss (train solid, test dashed)", xLabel: xLabel)
        var accuracyPanel = Panel(left: 20 + panelWidth + 20, top: 40, width: panelWidth, height: height - 110,
                                  x: xRange, y: accuracyRange.0 < accuracyRange.1 ? accuracyRange : (0, 1),
                                  title: "test accuracy", xLabel: xLabel)
        for (index, run) in runs.enumerated() {
            let colour = Self.palette[index % Self.palette.count]
            lossPanel.line(run.train.map { ($0.x, $0.loss) }, colour: colour)
            lossPanel.line(run.testLoss.map { ($0.x, $0.loss) }, colour: colour, dashed: true, markers: true)
            accuracyPanel.line(run.testAccuracy.map { ($0.x, $0.accuracy) }, colour: colour, markers: true)
        }
        body += lossPanel.render() + accuracyPanel.render()
        // Legend: one entry per log, under the panels.
        var legendX = 80.0
        for (index, run) in runs.enumerated() {
            let colour = Self.palette[index % Self.palette.count]
            body += "<line x1='\(legendX)' y1='\(height - 22)' x2='\(legendX + 24)' y2='\(height - 22)' stroke='\(colour)' stroke-width='3'/>"
            body += "<text x='\(legendX + 30)' y='\(height - 17)' font-size='13'>\(escape(run.name))</text>"
            legendX += 60 + Double(run.name.count) * 7.5
        }
        return """
        <svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' viewBox='0 0 \(Int(width)) \(Int(height))' font-family='sans-serif'>
        <rect width='100%' height='100%' fill='white'/>
        \(body)
        </svg>

        """
    }
}

/// One chart: axes with round-number ticks, grid, title and lines.
private struct Panel {
    var left, top, width, height: Double
    var x: (Double, Double)
    var y: (Double, Double)
    var title: String
    var xLabel: String
    private var content = ""
    // Room for tick labels inside the panel's box.
    private var plotLeft: Double { left + 55 }
    private var plotWidth: Double { width - 65 }

    init(left: Double, top: Double, width: Double, height: Double, x: (Double, Double), y: (Double, Double), title: String, xLabel: String) {
        self.left = left
        self.top = top
        self.width = width
        self.height = height
        self.x = x
        self.y = y
        self.title = title
        self.xLabel = xLabel
    }

    func px(_ value: Double) -> Double { plotLeft + (value - x.0) / (x.1 - x.0) * plotWidth }
    func py(_ value: Double) -> Double { top + height - (value - y.0) / (y.1 - y.0) * height }

    mutating func line(_ points: [(Double, Double)], colour: String, dashed: Bool = false, markers: Bool = false) {
        guard !points.isEmpty else { return }
        let path = points.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
        content += "<polyline points='\(path)' fill='none' stroke='\(colour)' stroke-width='2'\(dashed ? " stroke-dasharray='6,4'" : "")/>"
        if markers {
            for point in points { content += String(format: "<circle cx='%.1f' cy='%.1f' r='3' fill='%@'/>", px(point.0), py(point.1), colour) }
        }
    }

    func render() -> String {
        var svg = "<text x='\(plotLeft + plotWidth / 2)' y='\(top - 14)' font-size='15' text-anchor='middle'>\(escape(title))</text>"
        for tick in niceTicks(y.0, y.1) {
            let yy = py(tick)
            svg += String(format: "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>", plotLeft, yy, plotLeft + plotWidth, yy)
            svg += String(format: "<text x='%.1f' y='%.1f' font-size='12' text-anchor='end'>%@</text>", plotLeft - 6, yy + 4, format(tick))
        }
        for tick in niceTicks(x.0, x.1) {
            let xx = px(tick)
            svg += String(format: "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>", xx, top, xx, top + height)
            svg += String(format: "<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle'>%@</text>", xx, top + height + 16, format(tick))
        }
        svg += String(format: "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#333'/>", plotLeft, top, plotWidth, height)
        svg += "<text x='\(plotLeft + plotWidth / 2)' y='\(top + height + 34)' font-size='13' text-anchor='middle'>\(xLabel)</text>"
        return svg + content
    }
}

/// About five round tick values (1, 2 or 5 × 10ⁿ apart) inside [low, high].
private func niceTicks(_ low: Double, _ high: Double) -> [Double] {
    let span = high - low
    guard span > 0, span.isFinite else { return [low] }
    let raw = span / 5
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
    var ticks: [Double] = []
    var value = (low / step).rounded(.up) * step
    // Bounded: next to values like 1e17 a step can vanish in rounding (value + step == value).
    while value <= high + step * 1e-9 && ticks.count < 20 {
        ticks.append(value)
        guard value + step > value else { break }
        value += step
    }
    return ticks
}

private func format(_ value: Double) -> String {
    if abs(value) >= 1000 { return String(format: "%.0f", value) }
    if value == value.rounded() { return String(format: "%.0f", value) }
    return String(format: "%g", (value * 1000).rounded() / 1000)
}

private func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}

private extension Double {
    func rounded(_ rule: FloatingPointRoundingRule, toStep step: Double) -> Double { (self / step).rounded(rule) * step }
}

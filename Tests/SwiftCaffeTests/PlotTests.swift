import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

@Suite struct PlotTests {
    func writeLog(_ rows: [String]) throws -> String {
        let path = try temporaryFolder() + "/run_log.csv"
        try ([TrainingLog.header] + rows).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func drawsOneSeriesPerCurveAndLog() throws {
        let a = try writeLog(["100,0.1,1.0,0.01,0.9,,", "200,0.2,2.0,0.01,0.6,,", "200,0.2,2.5,,,0.55,0.8"])
        let b = try writeLog(["100,0.1,1.5,0.01,1.1,,", "200,0.2,3.0,0.01,0.7,,", "200,0.2,3.5,,,0.65,0.75"])
        let plot = try TrainingPlot(logs: [a, b], axis: .seconds)
        #expect(plot.runs[0].train.map(\.x) == [1.0, 2.0])
        #expect(plot.runs[1].testAccuracy.map(\.accuracy) == [0.75])
        let svg = plot.svg()
        // Train and test loss, and accuracy, for each of the two logs.
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 6)
        #expect(svg.contains("seconds") && svg.contains("test accuracy"))
        // Two logs named run_log, from two folders: the legend tells them apart by folder.
        let folders = [a, b].map { URL(fileURLWithPath: $0).deletingLastPathComponent().lastPathComponent }
        #expect(plot.runs.map(\.name) == folders.map { $0 + "/run_log" })
        // The last test's marker (x = 3.5 s, the largest) lies inside the accuracy panel's frame.
        let frames = svg.matches(of: /<rect x='([\d.]+)' y='[\d.]+' width='([\d.]+)'/).map { (Double($0.1)!, Double($0.2)!) }
        let markers = svg.matches(of: /<circle cx='([\d.]+)'/).map { Double($0.1)! }
        let (left, width) = frames.last!
        #expect(markers.max()! < left + width - 3, "\(markers) \(frames)")
    }

    @Test func rejectsWhatIsNotALog() throws {
        let folder = try temporaryFolder()
        try "a,b\n1,2\n".write(toFile: folder + "/x.csv", atomically: true, encoding: .utf8)
        #expect { try TrainingPlot(logs: [folder + "/x.csv"], axis: .iteration) } throws: { "\($0)".contains("not a SwiftCaffe training log") }
        let broken = try writeLog(["100,0.1,1.0,0.01,0.9,,", "oops"])
        #expect { try TrainingPlot(logs: [broken], axis: .iteration) } throws: { "\($0)".contains(":3:1: error: malformed row") }
    }
}

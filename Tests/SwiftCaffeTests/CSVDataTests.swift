import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

@Suite struct CSVDataTests {
    func layer(_ csv: String, keys: String = "label_column: -1, header: true") throws -> (CSVDataLayer, [Blob]) {
        let folder = try temporaryFolder()
        try csv.write(toFile: folder + "/table.csv", atomically: true, encoding: .utf8)
        let layer = try makeLayer("{name: t, type: CSVData, top: [data, label], source: \(folder)/table.csv, batch_size: 2, \(keys)}") as! CSVDataLayer
        let top = [Blob(), Blob()]
        try layer.setUp(bottom: [], top: top)
        return (layer, top)
    }

    @Test func servesFeaturesAndLabels() throws {
        let (layer, top) = try layer("a,b,class\n1,2,0\n3,4,1\n5,6,2\n", keys: "label_column: 2, header: true, scale: 0.5")
        #expect(layer.sampleCount == 3 && top[0].shape == [2, 2])
        layer.forward(bottom: [], top: top)
        #expect(top[0].dataArray == [0.5, 1, 1.5, 2] && top[1].dataArray == [0, 1])
        layer.forward(bottom: [], top: top)
        #expect(top[0].dataArray == [2.5, 3, 0.5, 1] && top[1].dataArray == [2, 0])  // wraps
    }

    @Test func labelInTheFirstColumn() throws {
        let (layer, top) = try layer("7,1,2\n8,3,4\n", keys: "label_column: 0")
        layer.forward(bottom: [], top: top)
        #expect(top[0].dataArray == [1, 2, 3, 4] && top[1].dataArray == [7, 8])
    }

    @Test func badCellsNameTheLineAndColumn() throws {
        #expect { try layer("a,b,c\n1,2,0\n3,x4,1\n") } throws: { "\($0)".contains("table.csv:3:3: error") && "\($0)".contains("'x4' is not a number") }
        #expect { try layer("a,b,c\n1,2,0\n3,1\n") } throws: { "\($0)".contains("table.csv:3:1") && "\($0)".contains("2 cells") }
        #expect { try layer("a,b,c\n1,2,0\n", keys: "label_column: -1") } throws: { "\($0)".contains("header: true") }
        #expect { try layer("1,2,0.5\n", keys: "label_column: -1") } throws: { "\($0)".contains("not a class index") }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: repositoryRoot + "/data/iris/train.csv")))
    func irisTrains() throws {
        let trainer = try Trainer(spec: try NetSpec.load(path: repositoryRoot + "/nets/iris_mlp.yaml"), options: TrainingOptions(maxIter: 400, output: try temporaryFolder()))
        try trainer.run(logging: false)
        #expect((try trainer.test().accuracy ?? 0) >= 0.9)
    }
}

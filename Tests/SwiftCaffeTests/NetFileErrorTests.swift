import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Each kind of bad net file gets an error that cites the line and column and says the fix.
@Suite struct NetFileErrorTests {
    /// Caffe's formats, as the command line has them.
    init() { CaffeFormats.register() }

    /// Parses `yaml` as a net file and builds its train net; returns the error it must throw.
    func error(_ yaml: String) -> SwiftCaffeError? {
        do {
            let spec = try NetSpec.parse(yaml, file: "bad.yaml")
            _ = try Net(spec: spec, phase: .train)
            return nil
        } catch let error as SwiftCaffeError {
            return error
        } catch {
            Issue.record("not a SwiftCaffeError: \(error)")
            return nil
        }
    }

    func expectError(_ yaml: String, line: Int, column: Int? = nil, mentions: [String],
                     sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        guard let error = error(yaml) else {
            Issue.record("expected an error", sourceLocation: sourceLocation)
            return
        }
        #expect(error.location?.file == "bad.yaml", sourceLocation: sourceLocation)
        #expect(error.location?.line == line, "\(error)", sourceLocation: sourceLocation)
        if let column { #expect(error.location?.column == column, "\(error)", sourceLocation: sourceLocation) }
        for text in mentions { #expect(error.description.contains(text), "'\(text)' not in: \(error)", sourceLocation: sourceLocation) }
    }

    let input = "  - {name: in, type: Input, top: data, shape: [2, 1, 8, 8]}\n"

    @Test func yamlSyntax() {
        expectError("layers:\n  - name: a\n   type: ReLU\n", line: 3, mentions: ["YAML syntax error", "indentation"])
        expectError("layers: [a, b\n", line: 2, mentions: ["YAML syntax error"])
    }

    @Test func tabIndentation() {
        expectError("layers:\n\t- name: a\n", line: 2, column: 1, mentions: ["tab", "spaces"])
    }

    @Test func emptyFile() {
        expectError("", line: 1, mentions: ["empty", "layers"])
        expectError("# only a comment\n", line: 1, mentions: ["empty"])
    }

    @Test func notUTF8() {
        let bytes: [UInt8] = Array("name: x\nlayers: []\n# caf".utf8) + [0xE9, 0x0A]
        do {
            _ = try YAMLParser.parse(bytes, file: "bad.yaml")
            Issue.record("expected an error")
        } catch let error as SwiftCaffeError {
            #expect(error.location == FileLocation(file: "bad.yaml", line: 3, column: 6))
            #expect(error.description.contains("UTF-8"))
        } catch { Issue.record("\(error)") }
    }

    @Test func aliasBombIsRefusedQuickly() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let start = Date()
        #expect(throws: SwiftCaffeError.self) { try YAMLParser.parse(yaml, file: "bomb.yaml") }
        #expect(Date().timeIntervalSince(start) < 5)
        guard let error = error(yaml) else { Issue.record("expected an error"); return }
        #expect(error.description.contains("alias"))
    }

    @Test func deepNestingIsRefused() {
        let yaml = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: SwiftCaffeError.self) { try YAMLParser.parse(yaml, file: "deep.yaml") }
    }

    @Test func unknownLayerTypeSuggestsTheNearest() {
        expectError("layers:\n" + input + "  - {name: c, type: Convolutoin, bottom: data, top: c}\n",
                    line: 3, mentions: ["unknown layer type 'Convolutoin'", "did you mean 'Convolution'"])
    }

    @Test func unknownKeySuggestsTheNearest() {
        expectError("layers:\n" + input + "  - name: c\n    type: Convolution\n    bottom: data\n    top: c\n    num_output: 2\n    kernal_size: 3\n",
                    line: 8, column: 5, mentions: ["layer 'c' (Convolution)", "unknown key 'kernal_size'", "did you mean 'kernel_size'"])
    }

    @Test func unknownTopLevelKey() {
        expectError("name: x\nlayer:\n" + input, line: 2, mentions: ["unknown key 'layer'", "did you mean 'layers'"])
    }

    @Test func missingRequiredKey() {
        expectError("layers:\n" + input + "  - {name: ip, type: InnerProduct, bottom: data, top: ip}\n",
                    line: 3, mentions: ["layer 'ip' (InnerProduct)", "missing required key 'num_output'", "add 'num_output:"])
    }

    @Test func wrongValueType() {
        expectError("layers:\n" + input + "  - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: ten}\n",
                    line: 3, column: 71, mentions: ["'num_output' expects a whole number, found 'ten'"])
        expectError("layers:\n" + input + "  - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: [1, 2]}\n",
                    line: 3, mentions: ["found a list"])
    }

    @Test func outOfRangeValue() {
        expectError("layers:\n" + input + "  - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 0}\n",
                    line: 3, mentions: ["'num_output' is 0, out of range", "use a value in [1,"])
        expectError("layers:\n" + input + "solver:\n  momentum: 1.5\n", line: 4, mentions: ["'momentum'", "out of range"])
    }

    @Test func badChoiceSuggestsTheNearest() {
        expectError("layers:\n" + input + "  - {name: p, type: Pooling, bottom: data, top: p, kernel_size: 2, pool: MAXX}\n",
                    line: 3, mentions: ["'pool' is 'MAXX'", "did you mean 'MAX'"])
    }

    @Test func undefinedBottom() {
        expectError("layers:\n" + input + "  - {name: r, type: ReLU, bottom: date, top: r}\n",
                    line: 3, mentions: ["bottom 'date' is not produced by any layer", "did you mean 'data'"])
    }

    @Test func duplicateTop() {
        expectError("layers:\n" + input + "  - {name: a, type: ReLU, bottom: data, top: x}\n  - {name: b, type: TanH, bottom: data, top: x}\n",
                    line: 4, mentions: ["top 'x' is already produced by layer 'a'", "rename"])
    }

    @Test func duplicateLayerName() {
        expectError("layers:\n" + input + "  - {name: a, type: ReLU, bottom: data, top: x}\n  - {name: a, type: TanH, bottom: data, top: y}\n",
                    line: 4, mentions: ["duplicate layer name 'a'", "line 3", "unique"])
    }

    @Test func duplicateKey() {
        expectError("layers:\n" + input + "  - {name: a, type: ReLU, bottom: data, top: x, top: y}\n",
                    line: 3, mentions: ["duplicate key 'top'"])
    }

    @Test func cycle() {
        let yaml = "layers:\n" + input
            + "  - {name: a, type: Eltwise0, bottom: [data, c], top: b}\n".replacingOccurrences(of: "Eltwise0", with: "EuclideanLoss")
            + "  - {name: b, type: ReLU, bottom: b, top: c2}\n  - {name: c, type: TanH, bottom: c2, top: c}\n"
        expectError(yaml, line: 3, mentions: ["cycle", "'a'", "'b'", "'c'"])
    }

    @Test func incompatibleShapes() {
        expectError("layers:\n" + input + "  - {name: in2, type: Input, top: other, shape: [3, 5]}\n  - {name: l, type: EuclideanLoss, bottom: [data, other], top: loss}\n",
                    line: 4, mentions: ["layer 'l' (EuclideanLoss)", "differ in size"])
        expectError("layers:\n" + input + "  - {name: c, type: Convolution, bottom: data, top: c, num_output: 2, kernel_size: 11}\n",
                    line: 3, mentions: ["larger than the padded 8×8 input", "smaller kernel_size"])
    }

    @Test func wrongBottomCount() {
        expectError("layers:\n" + input + "  - {name: l, type: SoftmaxWithLoss, bottom: data, top: loss}\n",
                    line: 3, mentions: ["takes 2 bottom(s), given 1"])
    }


    @Test func labelsBeyondTheClassifier() throws {
        let folder = try temporaryFolder()
        try writeIDX(folder + "/images", dimensions: [4, 2, 2], bytes: [UInt8](repeating: 1, count: 16))
        try writeIDX(folder + "/labels", dimensions: [4], bytes: [0, 1, 7, 2])
        let yaml = """
        layers:
          - {name: d, type: IDXData, top: [data, label], images: \(folder)/images, labels: \(folder)/labels, batch_size: 2}
          - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 5}
          - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
        """
        expectError(yaml, line: 4, mentions: ["labels go up to 7", "only 5 classes", "at least 8"])
    }

    @Test func missingDataFileNamesTheLayer() {
        expectError("layers:\n  - {name: d, type: IDXData, top: [data, label], images: /nonexistent/x.gz, labels: /nonexistent/y.gz, batch_size: 2}\n",
                    line: 2, mentions: ["layer 'd' (IDXData)", "/nonexistent/x.gz"])
    }

    @Test func fillerTypo() {
        expectError("layers:\n" + input + "  - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 2, weight_filler: xavir}\n",
                    line: 3, mentions: ["not a filler type", "did you mean 'xavier'"])
    }

    /// Sizes that would overflow or could never be allocated are errors, not traps.
    @Test func absurdSizes() {
        expectError("layers:\n  - {name: in, type: Input, top: data, shape: [2147483647, 2147483647, 2147483647]}\n",
                    line: 2, mentions: ["too large"])
        expectError("layers:\n" + input + "  - {name: r, type: Reshape, bottom: data, top: r, shape: [2147483647, 2147483647, 2147483647, -1]}\n",
                    line: 3, mentions: ["too large"])
        expectError("layers:\n" + input + "  - {name: t, type: Tile, bottom: data, top: t, tiles: 2147483647}\n",
                    line: 3, mentions: ["layer 't' (Tile)", "too large"])
        expectError("layers:\n" + input + "  - {name: d, type: Deconvolution, bottom: data, top: d, num_output: 1, kernel_size: 2, stride: 2147483647}\n",
                    line: 3, mentions: ["layer 'd' (Deconvolution)", "too large"])
        expectError("layers:\n" + input + "  - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 2147483647}\n",
                    line: 3, mentions: ["'num_output' is 2147483647, out of range"])
    }
}

import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// One minimal input for each class of input that used to crash the program or quietly give
/// a wrong answer. The ones that crashed are run through the real binary in their
/// own process, so that a regression fails the test instead of taking the test process down.
@Suite struct HostileInputTests {
    /// Caffe's formats, as the command line has them.
    init() { CaffeFormats.register() }

    var runner: Fuzzer {
        Fuzzer(binary: FuzzTests.binary, repository: repositoryRoot, root: NSTemporaryDirectory(), seed: 0)
    }

    /// Runs the binary and expects a clean failure (exit status 1) whose message contains every one of `mentions`.
    func expectLocatedError(_ arguments: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let (outcome, output) = runner.run([FuzzTests.binary] + arguments)
        #expect(outcome == .locatedError, "\(outcome): \(output.suffix(600))", sourceLocation: sourceLocation)
        for text in mentions { #expect(output.contains(text), "'\(text)' missing from: \(output.suffix(600))", sourceLocation: sourceLocation) }
    }

    static let tinyNet = """
    name: tiny
    layers:
      - {name: in, type: Input, top: [data, label], shape: [[2, 1, 8, 8], [2]]}
      - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 3, weight_filler: xavier}
      - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
    """

    // MARK: Files that name each other

    @Test func solverFilesThatFormACycle() throws {
        let folder = try temporaryFolder()
        try "net: self.yaml\nbase_lr: 0.1\n".write(toFile: folder + "/self.yaml", atomically: true, encoding: .utf8)
        try "net: b.yaml\n".write(toFile: folder + "/a.yaml", atomically: true, encoding: .utf8)
        try "net: a.yaml\n".write(toFile: folder + "/b.yaml", atomically: true, encoding: .utf8)
        #expect { try NetSpec.load(path: folder + "/self.yaml") } throws: { "\($0)".contains("self.yaml:1:6: error: 'net' leads back") }
        #expect { try NetSpec.load(path: folder + "/a.yaml") } throws: { "\($0)".contains("b.yaml:1:6: error: 'net' leads back") && "\($0)".contains("a.yaml' → ") }
    }

    // MARK: Numbers out of range

    @Test func iterationCountsBeyondAnyRun() throws {
        let (folder, _) = try SnapshotTests().smallNet()
        let net = folder + "/net.yaml"
        expectLocatedError(["train", net, "--epochs", "1e300", "--output", folder], mentions: ["--epochs 1e+300", "more than the 1099511627776 a run may have"])
        expectLocatedError(["train", net, "--max-iter", "9223372036854775807", "--output", folder], mentions: ["--max-iter 9223372036854775807 is out of range"])
        let yaml = try String(contentsOfFile: net, encoding: .utf8).replacingOccurrences(of: "epochs: 2", with: "max_iter: 9223372036854775807")
        try yaml.write(toFile: folder + "/long.yaml", atomically: true, encoding: .utf8)
        expectLocatedError(["train", folder + "/long.yaml", "--output", folder], mentions: ["long.yaml:", "'max_iter' is 9223372036854775807, out of range"])
    }

    @Test func solverStateCountersNearIntMax() throws {
        let (folder, spec) = try SnapshotTests().smallNet(solver: "{base_lr: 0.05, max_iter: 2}")
        let trainer = try Trainer(spec: spec, options: TrainingOptions(output: folder))
        try trainer.run(logging: false)
        let path = folder + "/small_iter_2.solverstate"
        let (tensors, metadata) = try Safetensors.read(path: path)
        for (key, value) in [("layer/data/epoch", "9223372036854775807"), ("iteration", "9223372036854775807"), ("layer/data/rng", "0 0 0 0")] {
            var edited = metadata
            edited[key] = value
            let arrays = tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value.shape, $0.value.values) }
            let bytes = try withBuffers(arrays) { try Safetensors.encode($0, metadata: edited) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let resumed = try Trainer(spec: spec, options: TrainingOptions(maxIter: 4, output: folder))
            #expect(throws: SwiftCaffeError.self, "\(key) = \(value)") { try resumed.resume(from: path) }
        }
    }

    @Test func safetensorsOffsetsNearTheEdgesOfInt() throws {
        let folder = try temporaryFolder()
        for offsets in ["[9223372036854775000, -9223372036854775000]", "[-9223372036854775807, 8]", "[0, 9223372036854775807]", "[8, 0]"] {
            var json = Array(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":\#(offsets)}}"#.utf8)
            while json.count % 8 != 0 { json.append(32) }
            var bytes: [UInt8] = []
            withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes += $0 }
            bytes += json + [UInt8](repeating: 0, count: 8)
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/w.safetensors"))
            #expect(throws: SwiftCaffeError.self, "\(offsets)") { try Safetensors.read(path: folder + "/w.safetensors") }
        }
    }

    @Test func csvLabelsThatAreNotClassIndices() throws {
        let folder = try temporaryFolder()
        try "1,2,0\n3,4,1e30\n".write(toFile: folder + "/t.csv", atomically: true, encoding: .utf8)
        let yaml = "layers:\n  - {name: t, type: CSVData, top: [data, label], source: t.csv, label_column: -1, batch_size: 2}\n"
        try yaml.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        #expect { try Net(spec: try NetSpec.load(path: folder + "/net.yaml"), phase: .train) } throws: {
            "\($0)".contains("t.csv:2:5: error: layer 't' (CSVData): label 1e30 is not a class index")
        }
    }

    /// A label turned into e¹⁰⁰⁰ = ∞ (Exp), −∞ or a fraction (Log), or a fraction (Power) by a
    /// layer between the data and the loss: the net
    /// stops before the loss layer converts it, naming the layer, the value and the iteration.
    @Test(arguments: ["Exp", "Log", "Power"])
    func labelsComputedIntoNonIndices(_ type: String) throws {
        let (folder, _) = try SnapshotTests().smallNet(solver: "{base_lr: 0.05, max_iter: 3}", extra: "")
        var yaml = try String(contentsOfFile: folder + "/net.yaml", encoding: .utf8)
        let layer = type == "Power" ? "{name: bend, type: Power, bottom: label, top: bent, scale: 0.5, shift: 0.25}"
            : "{name: bend, type: \(type), bottom: label, top: bent\(type == "Exp" ? ", scale: 1000" : "")}"
        yaml = yaml.replacingOccurrences(of: "  - {name: conv,", with: "  - \(layer)\n  - {name: conv,")
            .replacingOccurrences(of: "bottom: [ip, label], top: loss}", with: "bottom: [ip, bent], top: loss}")
        try yaml.write(toFile: folder + "/bent.yaml", atomically: true, encoding: .utf8)
        let trainer = try Trainer(spec: try NetSpec.load(path: folder + "/bent.yaml"), options: TrainingOptions(output: folder))
        #expect { try trainer.run(logging: false) } throws: { error in
            let text = "\(error)"
            return text.contains("layer 'loss' (SoftmaxWithLoss): its bottom 'bent' holds ") && text.contains("not a class label in 0...3")
                && text.contains("(at iteration 1)")
        }
    }

    @Test func embedIndicesOutOfRangeAtRunTime() throws {
        let yaml = """
        layers:
          - {name: in, type: Input, top: [ids, target], shape: [[2], [2, 3]]}
          - {name: embed, type: Embed, bottom: ids, top: vectors, input_dim: 4, num_output: 3, weight_filler: gaussian}
          - {name: loss, type: EuclideanLoss, bottom: [vectors, target], top: loss}
        """
        let net = try Net(spec: try NetSpec.parse(yaml), phase: .train)
        for bad: Float in [4, -1, 1.5, 1e30, .nan, .infinity] {
            net.blobs["ids"]!.setData([0, bad])
            #expect { try net.forward() } throws: { "\($0)".contains("layer 'embed' (Embed): its bottom 'ids' holds") }
        }
        net.blobs["ids"]!.setData([0, 3])
        #expect(throws: Never.self) { try net.forward() }
    }

    // MARK: Windows

    /// Every pooling window starts inside the input: kernel 2, stride 9 (or 65536) on 8×8 is one
    /// window, not a second one past the edge (which read outside the plane or divided by 0).
    @Test(arguments: ["MAX", "AVE"], [9, 65536])
    func poolingWindowsStartInsideTheInput(_ method: String, _ stride: Int) throws {
        let layer = try makeLayer("{name: p, type: Pooling, pool: \(method), kernel_size: 2, stride: \(stride)}")
        let input = Blob(shape: [1, 1, 8, 8])
        input.setData((0..<64).map(Float.init))
        let top = Blob()
        try layer.setUp(bottom: [input], top: [top])
        #expect(top.shape == [1, 1, 1, 1])
        try layer.forward(bottom: [input], top: [top])
        #expect(top.dataArray == [method == "MAX" ? 9 : 4.5])  // the window over 0, 1, 8, 9
        // With padding the last window may start in the padding only before the input's edge.
        #expect(PoolingLayer.pooledSize(8, kernel: 3, stride: 4, pad: 2) == 3)
        #expect(PoolingLayer.pooledSize(7, kernel: 2, stride: 7, pad: 0) == 1)
    }

    // MARK: Memory

    static let hugeInnerProduct = """
    name: huge
    layers:
      - {name: in, type: Input, top: [data, label], shape: [[1, 65536], [1]]}
      - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 32768, weight_filler: xavier}
      - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
    solver: {max_iter: 1}
    """

    /// An 8 GB InnerProduct under a 4 GB address-space limit is refused, naming the layer,
    /// before anything is allocated; `summary` shows it without allocating its parameters.
    @Test func netsLargerThanTheMemoryAreRefused() throws {
        let folder = try temporaryFolder()
        try Self.hugeInnerProduct.write(toFile: folder + "/huge.yaml", atomically: true, encoding: .utf8)
        expectLocatedError(["train", folder + "/huge.yaml", "--output", folder], mentions: ["huge.yaml:4:5: error: layer 'ip' (InnerProduct): the train net needs", "ulimit -v"])
        expectLocatedError(["test", folder + "/huge.yaml", "--weights", folder + "/none.safetensors", "--memory-limit", "1G"],
                           mentions: ["layer 'ip' (InnerProduct)", "--memory-limit 1.00 GB"])
        let (outcome, output) = runner.run([FuzzTests.binary, "summary", folder + "/huge.yaml"])
        #expect(outcome == .ran, "\(outcome) \(output.suffix(500))")
        #expect(output.contains("memory: 16.00 GB (parameters 8.00 GB"))
        let inspected = try NetPlan(spec: try NetSpec.parse(Self.hugeInnerProduct), options: NetOptions(phase: .train))
        #expect(inspected.parameters.allSatisfy { !$0.blob.isAllocated })
    }

    @Test func thousandsOfLayersAreRefusedToo() throws {
        let folder = try temporaryFolder()
        var yaml = "layers:\n  - {name: in, type: Input, top: [x0], shape: [[64, 64, 64, 64]]}\n"
        for i in 1...2000 { yaml += "  - {name: r\(i), type: TanH, bottom: x\(i - 1), top: x\(i)}\n" }
        try yaml.write(toFile: folder + "/deep.yaml", atomically: true, encoding: .utf8)
        let (outcome, output) = runner.run([FuzzTests.binary, "summary", folder + "/deep.yaml"])
        #expect(outcome == .ran, "summary allocates nothing, so it runs: \(outcome) \(output.suffix(300))")
        // Training keeps every blob (backward reads them): 2000 × 64 MB. (Inference would not:
        // its blobs take turns in two buffers, `BlobSharing`.)
        expectLocatedError(["time", folder + "/deep.yaml", "--phase", "train", "--iterations", "1"], mentions: ["deep.yaml:", "error: layer '", "the train net needs"])
    }

    /// Files read whole (CSV tables, safetensors) are checked against the budget first: a
    /// 2 GB (sparse) table under --memory-limit 1G is a located error, not an abort.
    @Test func wholeFileReadsAreBudgeted() throws {
        let folder = try temporaryFolder()
        _ = FileManager.default.createFile(atPath: folder + "/big.csv", contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: folder + "/big.csv"))
        try handle.truncate(atOffset: 2 << 30)
        try handle.close()
        try "layers:\n  - {name: t, type: CSVData, top: [data], source: big.csv, batch_size: 2}\n".write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        expectLocatedError(["time", folder + "/net.yaml", "--phase", "test", "--memory-limit", "1G"],
                           mentions: ["net.yaml:2:5: error: layer 't' (CSVData): reading '\(folder)/big.csv' needs 6.00 GB"])
        let (small, _) = try SnapshotTests().smallNet(solver: "{base_lr: 0.05, max_iter: 1}")
        try FileManager.default.moveItem(atPath: folder + "/big.csv", toPath: folder + "/w.safetensors")
        expectLocatedError(["train", small + "/net.yaml", "--weights", folder + "/w.safetensors", "--output", small, "--memory-limit", "1G"],
                           mentions: ["error: reading '\(folder)/w.safetensors' needs 6.00 GB"])
    }

    /// A gzip file whose IDX header promises far more than deflate can expand its bytes to is
    /// refused after reading the header, without inflating the rest.
    @Test func gzipBombsAreRefusedFromTheHeader() throws {
        let folder = try temporaryFolder()
        try writeIDX(folder + "/bomb", dimensions: [32768, 256, 256], bytes: [UInt8](repeating: 0, count: 1 << 20))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = [folder + "/bomb"]
        try gzip.run()
        gzip.waitUntilExit()
        #expect { try IDXFile(path: folder + "/bomb.gz") } throws: { "\($0)".contains("more than its") && "\($0)".contains("bytes can hold") }
    }

    // MARK: Files written

    /// A log and record that hit a file-size limit (as a full disk would): a clean error, and
    /// both keep only whole lines. (The record, with the net's graph in its first line, reaches
    /// the limit first.)
    @Test func aFullDiskIsAnErrorAndTheLogKeepsWholeRows() throws {
        let (folder, _) = try SnapshotTests().smallNet(solver: "{base_lr: 0.05, max_iter: 1000, display: 1}")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "ulimit -f 8; exec \"$0\" train \"$1\" --output \"$2\" --threads 1", FuzzTests.binary, folder + "/net.yaml", folder + "/run"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(message)")
        #expect(message.contains("error: cannot append to the log") || message.contains("error: cannot append to the record"), "\(message)")
        let log = try String(contentsOfFile: folder + "/run/small_log.csv", encoding: .utf8)
        #expect(log.hasSuffix("\n"))
        #expect(log.split(separator: "\n").allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 7 })
        let record = try String(contentsOfFile: folder + "/run/small_events.jsonl", encoding: .utf8)
        #expect(record.hasSuffix("\n") && record.split(separator: "\n").count > 1)
        #expect(record.split(separator: "\n").allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
    }

    @Test func outputBelowARegularFile() throws {
        let (folder, _) = try SnapshotTests().smallNet(solver: "{base_lr: 0.05, max_iter: 1}")
        try "".write(toFile: folder + "/file", atomically: true, encoding: .utf8)
        expectLocatedError(["train", folder + "/net.yaml", "--output", folder + "/file/run"], mentions: ["'\(folder)/file' is a file, not a folder"])
    }

    @Test func staleTemporaryFilesOfDeadRunsAreRemoved() throws {
        let folder = try temporaryFolder()
        let dead = folder + "/.small_iter_5.safetensors.tmp-2147480000"  // no process has this id
        let mine = folder + "/.small_iter_5.safetensors.tmp-\(getpid())"
        for path in [dead, mine] { try "partial".write(toFile: path, atomically: false, encoding: .utf8) }
        #expect(AtomicFile.removeStaleTemporaries(in: folder) == [".small_iter_5.safetensors.tmp-2147480000"])
        #expect(!FileManager.default.fileExists(atPath: dead) && FileManager.default.fileExists(atPath: mine))
    }

    // MARK: Messages

    /// A 4 MB layer type gets an error of a readable length, without a "did you mean" search
    /// over it (that took ~100 s for 40 MB).
    @Test func hugeScalarsGiveShortMessages() throws {
        let yaml = "layers:\n  - {name: x, type: " + String(repeating: "Q", count: 4 << 20) + "}\n"
        #expect { try Net(spec: try NetSpec.parse(yaml, file: "big.yaml"), phase: .train) } throws: { error in
            let text = "\(error)"
            return text.count < 3000 && text.contains("big.yaml:2:") && text.contains("characters cut")
        }
    }

    /// Seconds near 1e17 one double apart: the tick step (5) is below half the spacing of
    /// doubles there (16), so value + step == value and the axis ticks looped forever (the
    /// binary before the fix hangs on this log). Run in its own process so a regression times out.
    @Test func plotsOfLogsWithExtremeValues() throws {
        let folder = try temporaryFolder()
        let rows = ["1,0.1,1e17,0.01,1,,", "2,0.2,100000000000000016,0.01,2,,", "3,0.3,100000000000000016,,,1e308,-1e308"]
        try ([TrainingLog.header] + rows).joined(separator: "\n").write(toFile: folder + "/run_log.csv", atomically: true, encoding: .utf8)
        let (outcome, output) = runner.run([FuzzTests.binary, "plot", folder + "/run_log.csv", "-o", folder + "/curves.svg", "--x", "seconds"])
        #expect(outcome == .ran, "\(outcome): \(output.suffix(400))")
        #expect(FileManager.default.fileExists(atPath: folder + "/curves.svg"))
    }

    // MARK: Quietly wrong

    @Test func nonFiniteWeightsAreRefusedAtLoad() throws {
        let folder = try temporaryFolder()
        let net = try Net(spec: try NetSpec.parse(Self.tinyNet), phase: .train)
        net.parameters[0].blob.data[5] = .infinity
        try net.saveWeights(to: folder + "/w.safetensors")
        #expect { try net.loadWeights(from: folder + "/w.safetensors") } throws: { "\($0)".contains("'ip.0' in '") && "\($0)".contains("holds inf at position 5") }
    }

    @Test func aLossWeightThatOverflowsNamesTheLayer() throws {
        let (folder, _) = try SnapshotTests().smallNet(solver: "{base_lr: 0.05, max_iter: 3}")
        let yaml = try String(contentsOfFile: folder + "/net.yaml", encoding: .utf8)
            .replacingOccurrences(of: "top: loss}", with: "top: loss, loss_weight: -3e38}")
        try yaml.write(toFile: folder + "/weighted.yaml", atomically: true, encoding: .utf8)
        let trainer = try Trainer(spec: try NetSpec.load(path: folder + "/weighted.yaml"), options: TrainingOptions(output: folder))
        #expect { try trainer.run(logging: false) } throws: { error in
            let text = "\(error)"
            return text.contains("layer 'loss' (SoftmaxWithLoss): its loss 'loss' is") && text.contains("loss_weight -3e+38") && !text.contains("base_lr")
        }
    }

    @Test func crlfTablesReadLikeLFTables() throws {
        let folder = try temporaryFolder()
        try "a,b,label\r\n1,2,0\r\n3,4,1\r\n".write(toFile: folder + "/t.csv", atomically: true, encoding: .utf8)
        let yaml = "layers:\n  - {name: t, type: CSVData, top: [data, label], source: t.csv, header: true, label_column: -1, batch_size: 2}\n"
        try yaml.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
        let net = try Net(spec: try NetSpec.load(path: folder + "/net.yaml"), phase: .train)
        try net.forward()
        #expect(net.dataSources[0].sampleCount == 2)
        #expect(net.blobs["data"]!.dataArray == [1, 2, 3, 4] && net.blobs["label"]!.dataArray == [0, 1])
    }

    @Test func aBatchLargerThanTheDataSetIsSaid() throws {
        let (_, spec) = try SnapshotTests().smallNet(batch: 300)
        let net = try Net(spec: spec, phase: .train)
        #expect(net.warnings.count == 1)
        #expect(net.warnings.first?.contains("batch_size 300 is larger than its 256 samples") == true)
    }
}

import Foundation
import CaffeProto
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// One test for each class of failure that passes from outside found on the paths users take:
/// a Caffe user's files, hostile files, a new user's mistakes. Whatever used to crash or hang
/// runs through the real binary in a process of its own (`HostileInputTests.expectLocatedError`),
/// so that a regression fails the test rather than taking the test process down.
@Suite struct UserPathTests {
    init() { CaffeFormats.register() }

    var hostile: HostileInputTests { HostileInputTests() }

    func write(_ text: String, _ name: String, in folder: String) throws -> String {
        try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        return folder + "/" + name
    }

    // MARK: Shipped features on shipped nets

    @Test(.enabled(if: fashionMNISTInstalled)) func theDeployFormOfLeNet() throws {
        let deploy = try DeployNet(try NetSpec.load(path: repositoryRoot + "/nets/lenet.yaml"))
        let layers = deploy.spec.layers
        #expect(layers.first?.type == "Input" && layers.first?.tops == ["data"])
        #expect(!layers.contains { ["SoftmaxWithLoss", "Accuracy", "IDXData"].contains($0.type) })
        #expect(layers.last?.type == "Softmax" && layers.last?.name == "prob" && layers.last?.bottoms == ["ip2"])
        #expect(deploy.notes.contains { $0.contains("label_names") })
        // It builds, with the test batch's shape on its Input, and Caffe's schema takes it.
        let plan = try NetPlan(spec: deploy.spec, options: NetOptions(phase: .test))
        #expect(plan.blobs["data"]?.shape == [100, 1, 28, 28] && plan.blobs["prob"]?.shape == [100, 10])
        let text = try PrototxtWriter.write(deploy.spec)
        #expect(text.contains("type: \"Input\"") && !text.contains("IDXData"))
    }

    @Test(.enabled(if: fashionMNISTInstalled)) func flipIsWrittenAsASliceAndAConcat() throws {
        let folder = try temporaryFolder()
        let deploy = try DeployNet(try NetSpec.load(path: repositoryRoot + "/nets/fashion_aug.yaml"))
        let path = try write(try PrototxtWriter.write(deploy.spec), "deploy.prototxt", in: folder)
        let yamlNet = try Net(spec: deploy.spec, phase: .test, seed: 3)
        let caffeNet = try Net(spec: try NetSpec.load(path: path), phase: .test, seed: 3)
        #expect(!caffeNet.layers.contains { $0.spec.type == "Flip" })
        // The same function: weights copied over, one random batch through both.
        for (ours, theirs) in zip(yamlNet.parameters, caffeNet.parameters) { theirs.blob.setData(ours.blob.dataArray) }
        let input = randomBlob(yamlNet.blobs["image"]!.shape, seed: 5).dataArray
        try yamlNet.forward(replacing: ["image": input])
        try caffeNet.forward(replacing: ["image": input])
        #expect(yamlNet.blobs["prob"]!.dataArray == caffeNet.blobs["prob"]!.dataArray)
    }

    @Test func epochsBecomeCaffesIterationCounts() throws {
        let (folder, _) = try SnapshotTests().smallNet()
        let spec = try NetSpec.load(path: folder + "/net.yaml")
        // 2 epochs of 256 samples in batches of 32 are 16 iterations; 256 test samples in batches of 64 are 4.
        let counts = try NetFileConversion.iterationCounts(spec)
        #expect(counts.maxIter == 16 && counts.testIter == 4, "\(counts)")
        _ = folder
    }

    @Test func aLayerNameWithALineBreakIsWritten() throws {
        let spec = try NetSpec.parse("""
            layers:
              - {name: "in\\nput", type: Input, top: data, shape: [1, 3]}
              - {name: "ip \\"one\\"", type: InnerProduct, bottom: data, top: ip, num_output: 2}
            """)
        let text = try PrototxtWriter.write(spec)
        let folder = try temporaryFolder()
        let back = try NetSpec.load(path: try write(text, "n.prototxt", in: folder))
        #expect(back.layers.map(\.name) == ["in\nput", "ip \"one\""])
    }

    // MARK: Crashes

    @Test func aBlobShapeOfManyAxesGoesToNumpyVersion2() throws {
        let tensor = Safetensors.Tensor(shape: Array(repeating: 1, count: 22_000), values: [4.5])
        let bytes = NPYFile.encode(tensor)
        #expect(bytes[6] == 2)
        #expect(try NPYFile.decode(bytes, file: "mean.npy") == tensor)
    }

    @Test func aCaffemodelOfMillionsOfEmptyLayersReadsInItsOwnSize() throws {
        let folder = try temporaryFolder()
        // Field 100 (layer), length-delimited, empty: 0xA2 0x06 0x00, five million times (15 MB).
        try Data(Array(repeating: [0xA2, 0x06, 0x00] as [UInt8], count: 5_000_000).joined()).write(to: URL(fileURLWithPath: folder + "/empty.caffemodel"))
        let (outcome, output) = hostile.runner.run([FuzzTests.binary, "convert", folder + "/empty.caffemodel", folder + "/w.safetensors"])
        #expect(outcome == .ran, "\(outcome): \(output.suffix(400))")
    }

    @Test func aTruncatedOrDamagedLMDBIsAnError() throws {
        let folder = try temporaryFolder()
        var records: [(key: String, value: [UInt8])] = []
        for index in 0..<300 {
            var datum = Caffe_Datum()
            (datum.channels, datum.height, datum.width, datum.label) = (1, 8, 8, Int32(index % 3))
            datum.data = Data((0..<64).map { UInt8(truncatingIfNeeded: $0 * index) })
            records.append((String(format: "%08d", index), try datum.serializedBytes()))
        }
        try LMDBDatabase(creatingAt: folder + "/db").write(records)
        let original = try Data(contentsOf: URL(fileURLWithPath: folder + "/db/data.mdb"))
        #expect(try LMDBDatabase(readingAt: folder + "/db").count == 300)
        // Cut short anywhere after the meta pages, or one byte of a page header flipped.
        let pageSize = 4096
        var damaged: [Data] = [original.prefix(8192), original.prefix(original.count - pageSize), original.prefix(original.count / 2)]
        for page in 2..<(original.count / pageSize) {
            var copy = original
            copy[page * pageSize + 10] ^= 0x07  // the page's flags
            damaged.append(copy)
        }
        var refused = 0
        for (index, bytes) in damaged.enumerated() {
            let copy = folder + "/damaged\(index)"
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            try bytes.write(to: URL(fileURLWithPath: copy + "/data.mdb"))
            let (outcome, output) = hostile.runner.run([FuzzTests.binary, "compute-image-mean", copy, folder + "/mean\(index).binaryproto"])
            // A cut is always refused; a flipped page that the table does not use changes nothing.
            #expect(index >= 3 ? !outcome.isFailure : outcome == .locatedError, "damaged copy \(index): \(outcome): \(output.suffix(400))")
            if outcome == .locatedError { refused += 1 }
        }
        #expect(refused >= 4, "the flipped page headers of the table were refused")
    }

    @Test func anHDF5DatasetLargerThanMemoryIsRefusedBeforeItIsRead() throws {
        let folder = try temporaryFolder()
        // Declared 300,000,000 × 4 floats (4.8 GB) and never written: HDF5 would read it as zeros.
        try HDF5File.declare("data", shape: [300_000_000, 4], in: folder + "/huge.h5")
        try "huge.h5\n".write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        let net = try write("layers:\n  - {name: h, type: HDF5Data, top: data, source: list.txt, batch_size: 2}\n", "net.yaml", in: folder)
        // Under the fuzzer's 4 GB address space: refused by the budget, not an allocation abort.
        hostile.expectLocatedError(["summary", net], mentions: ["rows of the HDF5 files", "the process can take only"])
    }

    @Test func chunkedAndCompressedHDF5ReadsTheSameAndDamageIsAnError() throws {
        let folder = try temporaryFolder()
        let values = (0..<(37 * 5)).map { Float($0) * 0.25 - 3 }, labels = (0..<37).map { Float($0 % 4) }
        let datasets = [("data", Safetensors.Tensor(shape: [37, 5], values: values)), ("label", Safetensors.Tensor(shape: [37], values: labels))]
        for (name, compressed) in [("chunked", false), ("gzip", true)] {
            try HDF5File.writeChunked(datasets, to: folder + "/\(name).h5", chunkRows: 8, compressed: compressed)  // the last chunk overhangs
            #expect(try HDF5File.read(path: folder + "/\(name).h5", datasets: ["data", "label"]) == Dictionary(uniqueKeysWithValues: datasets))
        }
        // Damaged compressed chunks (what made libhdf5's own reader copy past its buffers):
        // located errors or clean reads, never a signal.
        try "damaged.h5\n".write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        let net = try write("layers:\n  - {name: h, type: HDF5Data, top: [data, label], source: list.txt, batch_size: 4}\n", "net.yaml", in: folder)
        let original = try Data(contentsOf: URL(fileURLWithPath: folder + "/gzip.h5"))
        var rng = RandomGenerator(seed: 11)
        var refused = 0
        for _ in 0..<60 {
            var copy = original
            for _ in 0..<(1 + Int(rng.next() % 3)) { copy[Int(rng.next() % UInt64(copy.count))] = UInt8(rng.next() % 256) }
            try copy.write(to: URL(fileURLWithPath: folder + "/damaged.h5"))
            let (outcome, output) = hostile.runner.run([FuzzTests.binary, "summary", net])
            #expect(!outcome.isFailure, "\(outcome): \(output.suffix(300))")
            if outcome == .locatedError { refused += 1 }
        }
        #expect(refused > 0)
    }

    @Test func manyReadersAndLongInPlaceChainsScheduleInLinearTime() throws {
        // A blob with 12,000 readers, 200,000 layers in place on it, a Concat of 150,000 bottoms.
        let readers = 12_000, chain = 200_000, bottoms = 150_000
        var text = "layers:\n  - {name: in, type: Input, top: x, shape: [1, 2]}\n"
        for index in 0..<readers { text += "  - {name: r\(index), type: ReLU, bottom: x, top: r\(index)}\n" }
        for index in 0..<chain { text += "  - {name: c\(index), type: ReLU, bottom: x, top: x}\n" }
        text += "  - {name: cat, type: Concat, bottom: [\((0..<bottoms).map { "r\($0 % readers)" }.joined(separator: ", "))], top: all}\n"
        let started = Date()
        let specs = try NetSpec.parse(text).layers
        let scheduled = try NetSchedule.schedule(specs)
        let plan = try NetPlan(spec: try NetSpec.parse(text), options: NetOptions(phase: .test))
        // A debug build; what took minutes (or an abort) takes seconds.
        #expect(Date().timeIntervalSince(started) < 60, "took \(Date().timeIntervalSince(started)) s")
        // A Split for x, and one for each r the Concat reads more than once (all 12,000).
        #expect(scheduled.count == specs.count + 1 + readers)
        #expect(scheduled.first { $0.spec.name == "x_split" }?.tops.count == readers)
        #expect(plan.blobs["all"]?.shape == [1, 2 * bottoms])
    }

    @Test func anInPlaceLayerCannotListItsBottomTwice() throws {
        for type in ["Eltwise", "Concat"] {
            let spec = try NetSpec.parse("""
                layers:
                  - {name: in, type: Input, top: data, shape: [1, 2]}
                  - {name: twice, type: \(type), bottom: [data, data], top: data}
                """, file: "net.yaml")
            #expect { try NetPlan(spec: spec, options: NetOptions(phase: .train)) } throws: {
                "\($0)".contains("net.yaml:3:") && "\($0)".contains("bottom 'data' is listed twice by a layer that writes it in place")
            }
        }
    }

    // MARK: Hangs

    @Test func pipesAndDevicesAreRefusedNotReadForever() throws {
        let folder = try temporaryFolder()
        let fifo = folder + "/fifo"
        #expect(mkfifo(fifo, 0o644) == 0)
        let (netFolder, _) = try SnapshotTests().smallNet()
        let cases: [[String]] = [
            ["test", netFolder + "/net.yaml", "--weights", fifo],
            ["test", netFolder + "/net.yaml", "--weights", fifo + ".safetensors"],
            ["test", netFolder + "/net.yaml", "--weights", fifo + ".h5"],
            ["summary", fifo],
            ["convert", fifo, folder + "/out"] + ["--labels", fifo],
            ["compute-image-mean", folder, folder + "/mean.binaryproto"],
        ]
        try FileManager.default.createSymbolicLink(atPath: fifo + ".safetensors", withDestinationPath: fifo)
        try FileManager.default.createSymbolicLink(atPath: fifo + ".h5", withDestinationPath: fifo)
        try FileManager.default.createSymbolicLink(atPath: folder + "/data.mdb", withDestinationPath: fifo)
        for arguments in cases {
            let (outcome, output) = hostile.runner.run([FuzzTests.binary] + arguments)
            #expect(outcome == .locatedError, "\(arguments): \(outcome): \(output.suffix(300))")
        }
        // An HDF5 list and an HDF5 file that are pipes.
        let net = try write("layers:\n  - {name: h, type: HDF5Data, top: data, source: fifo, batch_size: 2}\n", "h5.yaml", in: folder)
        #expect { try NetPlan(spec: try NetSpec.load(path: net), options: NetOptions(phase: .train)) } throws: { "\($0)".contains("not a regular file") }
    }

    @Test func moreReplicasThanCoresAreRefused() throws {
        let (folder, _) = try SnapshotTests().smallNet()
        let (outcome, output) = hostile.runner.run([FuzzTests.binary, "train", folder + "/net.yaml", "--replicas", "256", "--output", folder])
        #expect(!outcome.isFailure || output.contains("--replicas must be between 1 and the"), "\(outcome): \(output)")
        #expect(outcome != .ran && output.contains("--replicas must be between 1 and the"), "\(outcome): \(output)")
    }

    // MARK: Quietly wrong

    @Test func notANumberInTheDataIsAnErrorInTest() throws {
        let folder = try temporaryFolder()
        try "a,b,label\n1,2,0\nnan,3,1\n4,5,1\n6,7,0\n".write(toFile: folder + "/t.csv", atomically: true, encoding: .utf8)
        // The CSV reader refuses NaN cells itself; HDF5 files can hold them.
        try HDF5File.write([("data", Safetensors.Tensor(shape: [4, 2], values: [1, 2, .nan, 3, 4, 5, 6, 7])),
                            ("label", Safetensors.Tensor(shape: [4], values: [0, 1, 1, 0]))], to: folder + "/t.h5")
        try "t.h5\n".write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        let spec = try NetSpec.parse("""
            layers:
              - {name: h, type: HDF5Data, top: [data, label], source: list.txt, batch_size: 4}
              - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 2, weight_filler: xavier}
              - {name: accuracy, type: Accuracy, bottom: [ip, label], top: accuracy}
              - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
            """, file: folder + "/net.yaml", baseDirectory: folder)
        let net = try Net(spec: spec, options: NetOptions(phase: .test, purpose: .inference))
        #expect { try Evaluation.run(net) } throws: { "\($0)".contains("layer 'h' (HDF5Data): served nan") }
    }

    /// compute-image-mean once wrote a NaN mean over float records holding NaN, and exited 0.
    @Test func aMeanOverNotANumberIsAnError() throws {
        let folder = try temporaryFolder()
        var datum = Caffe_Datum()
        (datum.channels, datum.height, datum.width, datum.label) = (1, 1, 2, 0)
        datum.floatData = [1, .nan]
        try LMDBDatabase(creatingAt: folder + "/db").write([("0", try datum.serializedBytes())])
        #expect { try ImageSetDatabase.mean(of: folder + "/db") } throws: { "\($0)".contains("record '0'") && "\($0)".contains("nan at position 1") }
    }

    @Test func hugeFiniteWeightsAreAnErrorNamingTheLayerThatOverflowed() throws {
        let spec = try NetSpec.parse("""
            layers:
              - {name: in, type: Input, top: data, shape: [2, 4]}
              - {name: ip1, type: InnerProduct, bottom: data, top: ip1, num_output: 4, weight_filler: {type: constant, value: 1e30}}
              - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2, num_output: 3, weight_filler: {type: constant, value: 1e30}}
              - {name: prob, type: Softmax, bottom: ip2, top: prob}
            """)
        let net = try Net(spec: spec, options: NetOptions(phase: .test, purpose: .inference))
        let error = net.nonFiniteError(replacing: ["data": Array(repeating: 1, count: 8)], during: "classifying")
        #expect(error.layer == "layer 'ip2' (InnerProduct)" && error.message.contains("from finite inputs and parameters"), "\(error)")
    }

    @Test func aDirectionOnAComputedBlobIsRefused() throws {
        let net = try Net(spec: try NetSpec.parse(HostileInputTests.tinyNet), phase: .train)
        #expect { try net.forwardTangents(inputs: ["ip": Array(repeating: 1, count: 6)]) } throws: { "\($0)".contains("'ip' is computed by layer 'ip'") }
        // A huge but finite direction whose derivatives outgrow Float: the layer is named.
        let summing = try Net(spec: try NetSpec.parse("""
            layers:
              - {name: in, type: Input, top: data, shape: [1, 8]}
              - {name: sum, type: InnerProduct, bottom: data, top: sum, num_output: 1, weight_filler: {type: constant, value: 1}}
            """), phase: .test)
        #expect { try summing.forwardTangents(inputs: ["data": Array(repeating: Float(1e38), count: 8)]) } throws: {
            "\($0)".contains("layer 'sum' (InnerProduct): its derivative along the direction is inf")
        }
    }

    @Test func ranksScoreEachTestImageOnce() throws {
        let (folder, _) = try SnapshotTests().smallNet()
        // 256 test images in batches of 64 on 3 ranks: 4 batches, not 6 (of which 2 wrapped).
        let path = folder + "/net.yaml"
        let alone = try Evaluation.run(try Net(spec: try NetSpec.load(path: path), options: NetOptions(phase: .test, purpose: .inference)))
        let scores = Scores()
        try ReplicaGroup.run(count: 3, threadsPerReplica: 1) { group in
            let net = try Net(spec: try NetSpec.load(path: path), options: NetOptions(phase: .test, purpose: .inference, shard: group.shard))
            let result = try Evaluation.run(net, group: group)
            scores.add(result)
        }
        for result in scores.all {
            #expect(result.images == 256 && result.batches == 4)
            #expect(result.outputs.map(\.value) == alone.outputs.map(\.value) || zip(result.outputs, alone.outputs).allSatisfy { abs($0.value - $1.value) < 1e-6 })
            #expect(result.confusion == alone.confusion)
        }
    }

    final class Scores: @unchecked Sendable {
        private var results: [TestResult] = []
        private let lock = NSLock()
        func add(_ result: TestResult) { lock.withLock { results.append(result) } }
        var all: [TestResult] { lock.withLock { results } }
    }

    // MARK: Data loss

    @Test func aStateRefusesWeightsThatAreNotItsOwn() throws {
        let (folder, spec) = try SnapshotTests().smallNet()
        let trainer = try Trainer(spec: spec, options: TrainingOptions(maxIter: 4, output: folder + "/run"))
        try trainer.run(logging: false)
        let other = try Trainer(spec: spec, options: TrainingOptions(maxIter: 2, seed: 9, output: folder + "/other"))
        try other.run(logging: false)
        // Another run's weights under this state's weights file name.
        try FileManager.default.removeItem(atPath: folder + "/run/small_iter_4.safetensors")
        try FileManager.default.copyItem(atPath: folder + "/other/small_iter_2.safetensors", toPath: folder + "/run/small_iter_4.safetensors")
        let resumed = try Trainer(spec: spec, options: TrainingOptions(maxIter: 8, output: folder + "/run"))
        #expect { try resumed.resume(from: folder + "/run/small_iter_4.solverstate") } throws: { "\($0)".contains("are not the ones it was saved with") }
    }

    // MARK: Valid input that was refused, or refused for the wrong reason

    @Test func caffeTextFormsCaffesParserTakes() throws {
        let folder = try temporaryFolder()
        let path = try write("""
            name: "forms"
            layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 0x2 dim: 3 dim: 4 dim: 4 } } }
            layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                    convolution_param { num_output: 2 kernel_size: 3 bias_term: 0 weight_filler { type: "gaussian" std: 0.01f } } }
            layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: 1 kernel_size: 2 } }
            """, "forms.prototxt", in: folder)
        let net = try Net(spec: try NetSpec.load(path: path), phase: .test)
        let conv = try #require(net.plan.layer(named: "conv"))
        #expect(conv.params.count == 1)  // bias_term: 0 is false
        #expect(net.blobs["data"]?.shape == [2, 3, 4, 4])
        #expect(net.plan.layer(named: "pool")?.spec.node("pool")?.scalar == "AVE")
    }

    @Test func twoBottomScaleAndBiasTakeTheirAxesFromTheSecondBottom() throws {
        // SENet's excitation: N×C scales broadcast over N×C×H×W from axis 0.
        for type in ["Scale", "Bias"] {
            let layer = try makeLayer("{name: s, type: \(type), axis: 0}")
            let x = randomBlob([2, 3, 4, 4], seed: 1), s = randomBlob([2, 3], seed: 2)
            let results = try expectGradientsMatch(layer, bottom: [x, s])
            #expect(results.count == 2)
            let tangentLayer = try #require(layer as? any TangentLayer)
            #expect(try AdjointCheck().check(tangentLayer, bottom: [x, s], top: [Blob(name: "t", shape: x.shape)]).passed)
        }
        #expect { try expectGradientsMatch(try makeLayer("{name: s, type: Scale, axis: 1}"), bottom: [randomBlob([2, 3, 4]), randomBlob([3, 5])]) }
            throws: { "\($0)".contains("the scale bottom") }
    }

    @Test func aParamBlockTheLayerDoesNotReadIsIgnoredWithAWarning() throws {
        let folder = try temporaryFolder()
        let path = try write("""
            layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } }
                    image_data_param { source: "train.txt" batch_size: 32 } }
            layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
            """, "vgg.prototxt", in: folder)
        let spec = try NetSpec.load(path: path)
        #expect(try Net(spec: spec, phase: .test).blobs["pool"]?.shape == [1, 3, 4, 4])
        #expect(spec.warnings.count == 1 && spec.warnings[0].contains("vgg.prototxt:2:") && spec.warnings[0].contains("'image_data_param' is not read by a Input layer"))
        let ceil = try write("layer { name: \"p\" type: \"Pooling\" bottom: \"x\" top: \"p\" pooling_param { pool: MAX ceil_mode: false } }\n", "ceil.prototxt", in: folder)
        #expect { try NetSpec.load(path: ceil) } throws: { "\($0)".contains("round_mode: FLOOR") }
    }

    @Test func wrongReasonsAreTheRightOnes() throws {
        let folder = try temporaryFolder()
        let missing = try write("layers:\n  - {name: d, type: Data, top: data, source: nowhere, batch_size: 2}\n", "net.yaml", in: folder)
        #expect { try NetPlan(spec: try NetSpec.load(path: missing), options: NetOptions(phase: .train)) } throws: { "\($0)".contains("there is no database at source") }
        let solver = try write("net: \"\(folder)/solver.prototxt\"\nbase_lr: 0.1\n", "solver.prototxt", in: folder)
        #expect { try NetSpec.load(path: solver) } throws: { "\($0)".contains("'net' names this solver file itself") }
        // A caffemodel with a third blob for a layer with two parameters (Caffe: incompatible number of blobs).
        let net = try Net(spec: try NetSpec.parse(HostileInputTests.tinyNet), phase: .train)
        let tensors = net.parameters.map { ($0.name, Safetensors.Tensor(shape: $0.blob.shape, values: $0.blob.dataArray)) }
            + [("ip.2", Safetensors.Tensor(shape: [3], values: [0, 0, 0]))]
        try TensorFiles.write(TensorFile(tensors: tensors, layerTypes: ["ip": "InnerProduct"]), to: folder + "/w.caffemodel")
        #expect { try net.loadWeights(from: folder + "/w.caffemodel") } throws: { "\($0)".contains("'ip.2'") && "\($0)".contains("2 parameter blobs") }
        // A file no tensor of which belongs to the net (a solver state, say) initialises nothing: an error.
        try TensorFiles.write(TensorFile(tensors: [("history", Safetensors.Tensor(shape: [1], values: [0]))]), to: folder + "/state.safetensors")
        #expect { try net.loadWeights(from: folder + "/state.safetensors", requireAll: false) } throws: { "\($0)".contains("no tensor of") }
    }

    @Test func crlfImageListsAreRead() throws {
        let folder = try temporaryFolder()
        try FileManager.default.createDirectory(atPath: folder + "/images", withIntermediateDirectories: true)
        for index in 0..<3 {
            try Data(try RasterImage(width: 4, height: 4, channels: 1, pixels: Array(repeating: UInt8(index * 40), count: 16)).encodedPNG())
                .write(to: URL(fileURLWithPath: folder + "/images/\(index).png"))
        }
        try "images/0.png 0\r\nimages/1.png 1\r\nimages/2.png 2\r\n".write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        let entries = try ImageList.read(folder + "/list.txt", rootFolder: folder, rootGiven: false, layer: nil)
        #expect(entries.map(\.label) == [0, 1, 2] && entries.map(\.line) == [1, 2, 3])
        #expect(try ImageSetDatabase.convert(list: folder + "/list.txt", rootFolder: folder, to: folder + "/db", options: .init()) == 3)
    }

    @Test func hdf5OutputWritesAFilePerRank() throws {
        let folder = try temporaryFolder()
        let spec = try LayerSpec(try YAMLParser.parse("{name: out, type: HDF5Output, bottom: [a, b], file_name: scores.h5}", file: folder + "/net.yaml"),
                                 index: 0, baseDirectory: folder)
        for rank in 0..<2 {
            let layer = try HDF5OutputLayer(spec: spec, context: LayerContext(phase: .test, seed: 1, shard: DataShard(rank: rank, count: 2)))
            let a = randomBlob([2, 3], seed: UInt64(rank)), b = randomBlob([2], seed: 9)
            try layer.setUp(bottom: [a, b], top: [])
            try layer.forward(bottom: [a, b], top: [])
        }
        #expect(FileManager.default.fileExists(atPath: folder + "/scores.h5") && FileManager.default.fileExists(atPath: folder + "/scores.rank1.h5"))
    }
}

import CaffeProto
import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Caffe's own files: prototxt nets and solvers (with V1 upgrades, include/exclude rules and
/// net-level inputs), their errors at the prototxt's line and column, caffemodel weights
/// (legacy shapes, double_data, damage) and binaryproto mean images.
@Suite struct CaffeFormatTests {
    /// Caffe's formats, as the command line has them.
    init() { CaffeFormats.register() }

    /// LeNet as Caffe's examples/mnist/lenet.prototxt defines it (our own copy of the net).
    static let lenet = """
        name: "LeNet"
        layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 64 dim: 1 dim: 28 dim: 28 } } }
        layer {
          name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          param { lr_mult: 1 } param { lr_mult: 2 }
          convolution_param { num_output: 20 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } bias_filler { type: "constant" } }
        }
        layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
        layer {
          name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
          param { lr_mult: 1 } param { lr_mult: 2 }
          convolution_param { num_output: 50 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } bias_filler { type: "constant" } }
        }
        layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
        layer {
          name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1"
          param { lr_mult: 1 } param { lr_mult: 2 }
          inner_product_param { num_output: 500 weight_filler { type: "xavier" } bias_filler { type: "constant" } }
        }
        layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
        layer {
          name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
          param { lr_mult: 1 } param { lr_mult: 2 }
          inner_product_param { num_output: 10 weight_filler { type: "xavier" } bias_filler { type: "constant" } }
        }
        layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
        """

    func write(_ text: String, _ name: String, in folder: String? = nil) throws -> String {
        let path = (try folder ?? temporaryFolder()) + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func parameterCount(_ net: Net) -> Int { net.parameters.reduce(0) { $0 + $1.blob.count } }

    // MARK: Nets

    /// Caffe's LeNet has 431,080 parameters; the prototxt builds exactly that net, with the
    /// fillers, lr_mults and pooling it states.
    @Test func aCaffeNetBuildsWithCaffesParameterCount() throws {
        let spec = try NetSpec.load(path: try write(Self.lenet, "lenet.prototxt"))
        #expect(spec.name == "LeNet")
        let net = try Net(spec: spec, phase: .test)
        #expect(parameterCount(net) == 431_080)
        #expect(net.parameters.map(\.lrMult) == [1, 2, 1, 2, 1, 2, 1, 2])
        #expect(net.blobs["pool2"]?.shape == [64, 50, 4, 4])
        #expect(net.blobs["prob"]?.shape == [64, 10])
    }

    /// A V1 net (`layers { type: CONVOLUTION blobs_lr ... }`) with net-level inputs reads as
    /// the current format would write it: same shapes, same learning-rate and decay multipliers.
    @Test func oldFormatsAreUpgraded() throws {
        let v1 = """
            name: "old"
            input: "data"
            input_dim: 2 input_dim: 3 input_dim: 8 input_dim: 8
            layers {
              name: "conv" type: CONVOLUTION bottom: "data" top: "conv"
              blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
              convolution_param { num_output: 4 kernel_size: 3 }
            }
            layers { name: "cat" type: CONCAT bottom: "conv" bottom: "conv" top: "cat" concat_param { concat_dim: 1 } }
            layers { name: "relu" type: RELU bottom: "cat" top: "cat" }
            """
        let net = try Net(spec: try NetSpec.load(path: try write(v1, "old.prototxt")), phase: .test)
        #expect(net.blobs["data"]?.shape == [2, 3, 8, 8])
        #expect(net.blobs["cat"]?.shape == [2, 8, 6, 6])
        #expect(net.parameters.map(\.lrMult) == [1, 2])
        #expect(net.parameters.map(\.decayMult) == [1, 0])
        #expect(net.layers.map(\.spec.type).contains("ReLU"))
    }

    /// include/exclude decide per phase, with the file's and the solver's stages and level, as
    /// Caffe's `StateMeetsRule` does; two layers of one name (Caffe allows it) become `name#2`.
    @Test func includeAndExcludeRulesChooseLayersPerPhase() throws {
        let folder = try temporaryFolder()
        let net = """
            name: "rules"
            layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
            layer { name: "train_only" type: "ReLU" bottom: "x" top: "a" include { phase: TRAIN } }
            layer { name: "not_test" type: "ReLU" bottom: "x" top: "b" exclude { phase: TEST } }
            layer { name: "deploy" type: "ReLU" bottom: "x" top: "c" include { stage: "deploy" } }
            layer { name: "no_deploy" type: "ReLU" bottom: "x" top: "d" include { not_stage: "deploy" } }
            layer { name: "level" type: "ReLU" bottom: "x" top: "e" include { min_level: 2 } }
            layer { name: "twice" type: "TanH" bottom: "x" top: "f" }
            layer { name: "twice" type: "Sigmoid" bottom: "x" top: "g" }
            """
        _ = try write(net, "rules.prototxt", in: folder)
        let plain = try NetSpec.load(path: folder + "/rules.prototxt")
        let phases = Dictionary(plain.layers.map { ($0.name, $0.phase?.rawValue ?? "both") }, uniquingKeysWith: { a, _ in a })
        #expect(phases == ["in": "both", "train_only": "train", "not_test": "train", "no_deploy": "both", "twice": "both", "twice#2": "both"])

        let solver = """
            net: "\(folder)/rules.prototxt"
            base_lr: 0.1
            test_state { stage: "deploy" level: 3 }
            """
        let staged = try NetSpec.load(path: try write(solver, "solver.prototxt", in: folder))
        let stagedPhases = Dictionary(staged.layers.map { ($0.name, $0.phase?.rawValue ?? "both") }, uniquingKeysWith: { a, _ in a })
        #expect(stagedPhases["deploy"] == "test")
        #expect(stagedPhases["no_deploy"] == "train")
        #expect(stagedPhases["level"] == "test")

        // The command line's --stage and --level apply to both phases.
        let commandLine = try NetSpec.load(path: folder + "/rules.prototxt", state: NetState(level: 2, stages: ["deploy"]))
        let commandPhases = Dictionary(commandLine.layers.map { ($0.name, $0.phase?.rawValue ?? "both") }, uniquingKeysWith: { a, _ in a })
        #expect(commandPhases["deploy"] == "both" && commandPhases["level"] == "both" && commandPhases["no_deploy"] == nil)
    }

    /// A solver.prototxt: Caffe's field names, the old `solver_type` enum, and `random_seed: -1`
    /// (Caffe's "from the clock") as no seed.
    @Test func aSolverPrototxtNamesItsNet() throws {
        let folder = try temporaryFolder()
        _ = try write(Self.lenet, "lenet.prototxt", in: folder)
        let solver = """
            # Caffe's solver for LeNet, with the old enum
            net: "\(folder)/lenet.prototxt"
            base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005
            lr_policy: "inv" gamma: 0.0001 power: 0.75
            display: 100 max_iter: 10000 snapshot: 5000 snapshot_prefix: "\(folder)/lenet"
            solver_mode: GPU random_seed: -1
            solver_type: ADAM
            """
        let spec = try NetSpec.load(path: try write(solver, "lenet_solver.prototxt", in: folder))
        let settings = try #require(spec.solver)
        #expect(settings.type == .adam && settings.baseLR == 0.01 && settings.momentum == 0.9 && settings.lrPolicy == .inv)
        #expect(settings.maxIter == 10000 && settings.snapshot == 5000 && settings.randomSeed == nil)
        #expect(settings.snapshotPrefix == folder + "/lenet")
        #expect(spec.layers.count == 9)
    }

    /// A solver with a separate `train_net` and `test_net` (Caffe's lenet_auto_solver) gives
    /// one net whose phases are those files, sharing parameters by layer name.
    @Test func separateTrainAndTestNetsBecomeTwoPhases() throws {
        let folder = try temporaryFolder()
        func net(_ batch: Int) -> String {
            """
            name: "auto"
            layer { name: "in" type: "Input" top: "x" input_param { shape { dim: \(batch) dim: 5 } } }
            layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
            """
        }
        _ = try write(net(8), "train.prototxt", in: folder)
        _ = try write(net(2), "test.prototxt", in: folder)
        let solver = "train_net: \"\(folder)/train.prototxt\"\ntest_net: \"\(folder)/test.prototxt\"\nbase_lr: 0.1\n"
        let spec = try NetSpec.load(path: try write(solver, "solver.prototxt", in: folder))
        #expect(spec.layers.map { "\($0.name):\($0.phase?.rawValue ?? "both")" } == ["in:train", "ip:train", "in:test", "ip:test"])
        let train = try Net(spec: spec, phase: .train)
        let test = try Net(spec: spec, options: NetOptions(phase: .test, sharingParametersWith: train))
        #expect(train.blobs["y"]?.shape == [8, 3] && test.blobs["y"]?.shape == [2, 3])
        #expect(test.parameters[0].blob === train.parameters[0].blob)
    }

    // MARK: Errors

    /// Each mistake is reported at the prototxt's line and column: syntax by the scanner,
    /// schema (unknown field, enum value) by swift-protobuf located field by field, and
    /// meaning by the layer itself.
    @Test func errorsCiteThePrototxtLineAndColumn() throws {
        let folder = try temporaryFolder()
        func failure(_ text: String) throws -> String {
            let path = try write(text, "bad.prototxt", in: folder)
            do {
                _ = try Net(spec: try NetSpec.load(path: path), phase: .test)
            } catch let error as SwiftCaffeError {
                return "\(error)".replacingOccurrences(of: folder + "/", with: "")
            }
            return "no error"
        }
        let input = "layer { name: \"in\" type: \"Input\" top: \"x\" input_param { shape { dim: 1 dim: 1 dim: 6 dim: 6 } } }\n"
        #expect(try failure(input + "layer { name: \"c\" type: \"Convolution\" bottom: \"x\" top: \"y\"\n  convolution_param { num_output: 2 kernal_size: 3 }\n}")
                    .hasPrefix("bad.prototxt:3:37: error: Caffe's schema has no field 'kernal_size' in 'convolution_param'"))
        #expect(try failure(input + "layer { name: \"p\" type: \"Pooling\" bottom: \"x\" top: \"y\"\n  pooling_param { pool: MAXIMUM kernel_size: 2 } }")
                    .hasPrefix("bad.prototxt:3:25: error: 'pool' in 'pooling_param' does not take the value MAXIMUM"))
        #expect(try failure(input + "layer { name: \"c\" type: \"Convolution\" bottom: \"x\" top: \"y\"\n  convolution_param { kernel_size: 3 } }")
                    .contains("bad.prototxt:2:1: error: layer 'c' (Convolution): missing required key 'num_output'"))
        #expect(try failure(input + "layer { name: \"r\" type: \"ReLU\" bottom: \"x\" top: \"y\"\n")
                    .hasPrefix("bad.prototxt:3:1: error: the file ends inside 'layer', opened at line 2"))
        #expect(try failure(input + "layer { name: \"r\" type: \"ReLU\" bottom: \"x\" top: \"y }\n")
                    .hasPrefix("bad.prototxt:2:49: error: a string opened here is not closed on its line"))
        #expect(try failure(input + "layer { name: \"c\" type: \"Convolution\" bottom: \"x\" top: \"y\"\n  convolution_param { num_output: -2 kernel_size: 3 } }")
                    .hasPrefix("bad.prototxt:3:35: error: 'num_output' in 'convolution_param' expects a number of another kind, found -2"))
        #expect(try failure(String(repeating: "layer { ", count: 200)).contains("nested more than 100 deep"))
    }

    // MARK: Weights

    func lenetNet() throws -> Net {
        try Net(spec: try NetSpec.load(path: try write(Self.lenet, "lenet.prototxt")), phase: .test)
    }

    /// Weights saved as a caffemodel load back bit for bit, and match a safetensors copy.
    @Test func caffemodelWeightsRoundTripBitForBit() throws {
        let folder = try temporaryFolder()
        let net = try lenetNet()
        for (index, parameter) in net.parameters.enumerated() {
            let values = randomBlob(parameter.blob.shape, seed: UInt64(index + 1)).dataArray
            parameter.blob.setData(values)
        }
        try net.saveWeights(to: folder + "/w.caffemodel")
        let fresh = try lenetNet()
        #expect(fresh.weightsChecksum() != net.weightsChecksum())
        try fresh.loadWeights(from: folder + "/w.caffemodel")
        #expect(fresh.weightsChecksum() == net.weightsChecksum())
        // The file is a NetParameter with each layer's type and blobs in `shape`, as Caffe reads it.
        let proto = try Caffe_NetParameter(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: folder + "/w.caffemodel")))
        #expect(proto.layer.map(\.name) == ["conv1", "conv2", "ip1", "ip2"])
        #expect(proto.layer.map(\.type) == ["Convolution", "Convolution", "InnerProduct", "InnerProduct"])
        #expect(proto.layer[2].blobs[0].shape.dim == [500, 800])
        #expect(proto.layer.allSatisfy { $0.blobs.allSatisfy { !$0.hasNum } })
    }

    /// Caffe's HDF5 weights: `data/<layer>/<index>` datasets (a slash in a layer's name
    /// becomes a group, as Caffe writes it), loaded back bit for bit whatever the file is called.
    @Test func hdf5WeightsInCaffesLayout() throws {
        let folder = try temporaryFolder()
        let renamed = Self.lenet.replacingOccurrences(of: "\"conv2\"", with: "\"block/conv2\"")
        let spec = try NetSpec.load(path: try write(renamed, "lenet.prototxt"))
        let net = try Net(spec: spec, phase: .test)
        for (index, parameter) in net.parameters.enumerated() {
            parameter.blob.setData(randomBlob(parameter.blob.shape, seed: UInt64(index + 7)).dataArray)
        }
        try net.saveWeights(to: folder + "/w.h5")
        try net.saveWeights(to: folder + "/unnamed", formatExtension: "h5")
        let datasets = try HDF5File.datasetNames(path: folder + "/w.h5")
        #expect(Set(datasets) == ["data/conv1/0", "data/conv1/1", "data/block/conv2/0", "data/block/conv2/1",
                                  "data/ip1/0", "data/ip1/1", "data/ip2/0", "data/ip2/1"])
        #expect(try HDF5File.shapes(path: folder + "/w.h5", datasets: ["data/ip1/0"])["data/ip1/0"] == [500, 800])
        for file in ["/w.h5", "/unnamed"] {
            let fresh = try Net(spec: spec, phase: .test)
            try fresh.loadWeights(from: folder + file)
            #expect(fresh.weightsChecksum() == net.weightsChecksum(), "\(file)")
        }
        #expect(throws: SwiftCaffeError.self) { try net.saveWeights(to: folder + "/x", formatExtension: "nothing") }
        // A damaged file (cut short) is an error naming it, not a crash or a hang.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/w.h5"))
        try bytes.prefix(2000).write(to: URL(fileURLWithPath: folder + "/cut.h5"))
        #expect { try net.loadWeights(from: folder + "/cut.h5") } throws: { "\($0)".contains("cut.h5") }
    }

    /// Old caffemodels store shapes in num/channels/height/width (an InnerProduct weight as
    /// 1×1×O×K) and some store doubles; both load. A shape that does not fit is still an error.
    @Test func legacyShapesAndDoublesLoad() throws {
        let folder = try temporaryFolder()
        let reference = try lenetNet()
        var model = Caffe_NetParameter()
        for (index, parameter) in reference.parameters.enumerated() {
            let values = randomBlob(parameter.blob.shape, seed: UInt64(index + 10)).dataArray
            parameter.blob.setData(values)
            if model.layers.last?.name != parameter.layer {
                var layer = Caffe_V1LayerParameter()
                layer.name = parameter.layer
                model.layers.append(layer)
            }
            var blob = Caffe_BlobProto()
            let legacy = Array(repeating: 1, count: 4 - parameter.blob.shape.count) + parameter.blob.shape
            (blob.num, blob.channels, blob.height, blob.width) = (Int32(legacy[0]), Int32(legacy[1]), Int32(legacy[2]), Int32(legacy[3]))
            if index % 2 == 0 { blob.data = values } else { blob.doubleData = values.map(Double.init) }
            model.layers[model.layers.count - 1].blobs.append(blob)
        }
        try Data(try model.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: folder + "/old.caffemodel"))
        let net = try lenetNet()
        try net.loadWeights(from: folder + "/old.caffemodel")
        #expect(net.weightsChecksum() == reference.weightsChecksum())

        (model.layers[0].blobs[0].num, model.layers[0].blobs[0].channels) = (4, 5)  // 500 values, the wrong shape
        try Data(try model.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: folder + "/wrong.caffemodel"))
        #expect { try lenetNet().loadWeights(from: folder + "/wrong.caffemodel") } throws: { "\($0)".contains("'conv1.0'") && "\($0)".contains("[4, 5, 5, 5]") }
    }

    /// A damaged caffemodel is an error that names it, never a crash.
    @Test func aDamagedCaffemodelIsAnError() throws {
        let folder = try temporaryFolder()
        let net = try lenetNet()
        try net.saveWeights(to: folder + "/w.caffemodel")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/w.caffemodel"))
        for cut in [1, 7, bytes.count / 2, bytes.count - 3] {
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: folder + "/cut.caffemodel"))
            #expect { try lenetNet().loadWeights(from: folder + "/cut.caffemodel") } throws: { "\($0)".contains("cut.caffemodel") }
        }
    }

    // MARK: Mean files

    /// `mean_file` subtracts Caffe's mean image pixel by pixel at the source position, before
    /// the crop and the flip, and must match the sample's size.
    @Test func meanFileIsSubtractedBeforeCropping() throws {
        let folder = try temporaryFolder()
        let mean = Safetensors.Tensor(shape: [1, 1, 4, 4], values: (0..<16).map { Float($0) * 0.5 })
        try Data(try BinaryProto.encode(mean)).write(to: URL(fileURLWithPath: folder + "/mean.binaryproto"))
        func transform(_ keys: String, phase: Phase) throws -> DataTransform {
            let spec = try LayerSpec(try YAMLParser.parse("{name: t, type: IDXData, mean_file: mean.binaryproto, \(keys)}", file: "net.yaml"),
                                     index: 0, baseDirectory: folder)
            return try DataTransform(spec, phase: phase, seed: 3)
        }
        func apply(_ transform: DataTransform, side: Int) -> [Float] {
            let source = (0..<16).map { UInt8($0 * 2) }
            var output = [Float](repeating: -1, count: side * side)
            source.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { transform.apply(input.baseAddress!, channels: 1, height: 4, width: 4, into: $0.baseAddress!, draw: 0) }
            }
            return output
        }
        // pixel 2i minus mean 0.5i = 1.5i, everywhere, then scaled.
        #expect(apply(try transform("scale: 2", phase: .test), side: 4) == (0..<16).map { Float($0) * 3 })
        // The centre 2×2 crop takes source pixels 5, 6, 9, 10: their own means were subtracted.
        #expect(apply(try transform("crop_size: 2", phase: .test), side: 2) == [5, 6, 9, 10].map { Float($0) * 1.5 })
        #expect { try transform("", phase: .test).outputShape(channels: 1, height: 5, width: 4) } throws: { "\($0)".contains("mean_file") }
        #expect { try transform("mean_value: 3", phase: .test) } throws: { "\($0)".contains("both 'mean_file' and 'mean_value'") }
        // A deploy net's Input checks its mean image against its shape when it is built, before
        // any picture is fed to it.
        let deploy = try NetSpec.parse("layers:\n  - {name: in, type: Input, top: data, shape: [1, 1, 5, 4], mean_file: mean.binaryproto}\n",
                                       file: folder + "/net.yaml", baseDirectory: folder)
        #expect { try Net(spec: deploy, phase: .test) } throws: { "\($0)".contains("mean_file") && "\($0)".contains("1×5×4") }
    }

    // MARK: Converting

    /// A YAML net written as a prototxt (whose keys swift-protobuf placed in Caffe's messages)
    /// and back as YAML is the same net: same blobs, parameters, multipliers, and with the same
    /// seed the same forward values.
    @Test func aNetSurvivesYAMLToPrototxtToYAML() throws {
        let folder = try temporaryFolder()
        let yaml = """
            name: mixed
            layers:
              - {name: in, type: Input, top: [x, y], shape: [[2, 3, 6, 6], [2]], phase: test, scale: 0.5}
              - {name: c, type: Convolution, bottom: x, top: c, num_output: 4, kernel_size: 3, pad: 1,
                 weight_filler: {type: gaussian, std: 0.1}, bias_filler: {type: constant, value: 0.2}, param: [{lr_mult: 1}, {lr_mult: 2, decay_mult: 0}]}
              - {name: bn, type: BatchNorm, bottom: c, top: c, use_global_stats: true}
              - {name: s, type: Scale, bottom: c, top: c, bias_term: true}
              - {name: r, type: ReLU, bottom: c, top: c, negative_slope: 0.1}
              - {name: p, type: Pooling, bottom: c, top: p, pool: ave, kernel_size: 2, stride: 2}
              - {name: cat, type: Concat, bottom: [p, p], top: cat, axis: 1}
              - {name: e, type: Eltwise, bottom: [cat, cat], top: e, operation: sum, coeff: [1, -0.5]}
              - {name: ip, type: InnerProduct, bottom: e, top: ip, num_output: 3, weight_filler: xavier}
              - {name: loss, type: SoftmaxWithLoss, bottom: [ip, y], top: loss, loss_weight: 2}
            """
        let yamlPath = try write(yaml, "mixed.yaml", in: folder)
        let original = try NetSpec.load(path: yamlPath)
        let converted = try NetFileConversion.prototxt(original, pathsRelativeTo: folder, netPath: "mixed.prototxt")
        #expect(converted.net.contains("convolution_param {") && converted.net.contains("pool: AVE") && converted.net.contains("operation: SUM"))
        #expect(converted.net.contains("include {\n    phase: TEST") && converted.net.contains("transform_param {\n    scale: 0.5"))
        let prototxtPath = try write(converted.net, "mixed.prototxt", in: folder)
        let back = try write(NetFileConversion.yaml(try NetSpec.load(path: prototxtPath), pathsRelativeTo: folder), "back.yaml", in: folder)
        func outputs(_ path: String) throws -> (loss: Float, parameters: [[Int]], multipliers: [Float]) {
            let net = try Net(spec: try NetSpec.load(path: path), phase: .test, seed: 5)
            net.blobs["x"]!.setData(randomBlob([2, 3, 6, 6], seed: 9).dataArray)
            net.blobs["y"]!.setData([0, 2])
            for parameter in net.parameters where parameter.layer == "bn" { parameter.blob.setData(Array(repeating: 1, count: parameter.blob.count)) }
            return (try net.forwardLoss(), net.parameters.map(\.blob.shape), net.parameters.map(\.lrMult) + net.parameters.map(\.decayMult))
        }
        let expected = try outputs(yamlPath)
        for path in [prototxtPath, back] {
            let got = try outputs(path)
            #expect(got.loss == expected.loss && got.parameters == expected.parameters && got.multipliers == expected.multipliers, "\(path)")
        }
    }

    /// A net Caffe could not read is refused when writing a prototxt, naming the layer.
    @Test func writingAPrototxtRefusesWhatCaffeLacks() throws {
        let folder = try temporaryFolder()
        let own = "layers:\n  - {name: d, type: CSVData, top: [data, label], source: x.csv, batch_size: 2, label_column: 0}\n"
        #expect { try NetFileConversion.prototxt(try NetSpec.load(path: try write(own, "own.yaml", in: folder)), pathsRelativeTo: folder, netPath: "x") }
            throws: { "\($0)".contains("CSVData is SwiftCaffe's own layer type") }
        try RasterImage(width: 2, height: 2, channels: 1, pixels: [0, 1, 2, 3]).write(to: folder + "/a.png")
        try "a.png 0\n".write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        let padded = "layers:\n  - {name: d, type: ImageData, top: [data, label], source: list.txt, batch_size: 1, crop_size: 2, pad: 1}\n"
        #expect { try NetFileConversion.prototxt(try NetSpec.load(path: try write(padded, "pad.yaml", in: folder)), pathsRelativeTo: folder, netPath: "x") }
            throws: { "\($0)".contains("'pad' has no place in Caffe's ImageData layer") && "\($0)".contains("pad.yaml:2:") }
    }

    /// Paths keep naming the same files from the new file's place.
    @Test func pathsAreRewrittenForTheNewFile() {
        #expect(NetFileConversion.relativePath("/a/b/data/list.txt", from: "/a/b/nets") == "../data/list.txt")
        #expect(NetFileConversion.relativePath("/a/b/list.txt", from: "/a/b") == "list.txt")
        #expect(NetFileConversion.relativePath("/usr/share/x", from: "/home/me") == "/usr/share/x")
        let node = try! YAMLParser.parse("{name: i, type: ImageData, source: ../data/list.txt, batch_size: 1}", file: "n.yaml")
        let moved = NetFileConversion.rewritingPaths(node, from: "/work/nets", to: "/work")
        #expect(moved.mapping?.first { $0.key.scalar == "source" }?.value.scalar == "data/list.txt")
    }

    // MARK: Caffe's net rules

    /// PReLU and Power need their input in backward, yet Caffe lets them run in place: here
    /// too, through a renamed copy of the value before them, so in place and out of place
    /// give the same loss and the same gradients. A loss layer without a top gets one.
    @Test func layersThatNeedTheirInputRunInPlace() throws {
        func run(_ inPlace: Bool) throws -> (loss: Float, gradients: [[Float]]) {
            let (a, b) = inPlace ? ("c", "c") : ("c1", "c2")
            let text = """
                layer { name: "in" type: "Input" top: "x" top: "t" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }
                layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 3 kernel_size: 1 weight_filler { type: "gaussian" } } }
                layer { name: "pr" type: "PReLU" bottom: "c" top: "\(a)" }
                layer { name: "pw" type: "Power" bottom: "\(a)" top: "\(b)" power_param { power: 2 shift: 0.5 } }
                layer { name: "loss" type: "EuclideanLoss" bottom: "\(b)" bottom: "t" }
                """
            let net = try Net(spec: try NetSpec.load(path: try write(text, "n.prototxt")), phase: .train, seed: 3)
            net.blobs["x"]!.setData(randomBlob([2, 3, 4, 4], seed: 1).dataArray)
            net.blobs["t"]!.setData(randomBlob([2, 3, 4, 4], seed: 2).dataArray)
            let loss = try net.forwardLoss()
            net.zeroParameterDiffs()
            net.seedLossDiffs()
            net.backward()
            return (loss, net.parameters.map { Array(UnsafeBufferPointer(start: $0.blob.diff, count: $0.blob.count)) })
        }
        let (inPlace, outOfPlace) = (try run(true), try run(false))
        #expect(inPlace.loss == outOfPlace.loss && inPlace.loss > 0)
        #expect(inPlace.gradients == outOfPlace.gradients)
    }

    /// `propagate_down: false` stops the gradient into that bottom only: the branch behind it
    /// gets exactly zero, the other branch exactly what it gets without the flag, and the
    /// forward pass is unchanged.
    @Test func propagateDownStopsOneBottomsGradient() throws {
        func run(_ flags: String) throws -> (loss: Float, a: [Float], b: [Float]) {
            let text = """
                layer { name: "in" type: "Input" top: "x" top: "t" input_param { shape { dim: 2 dim: 4 } shape { dim: 2 dim: 3 } } }
                layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
                layer { name: "b" type: "InnerProduct" bottom: "x" top: "b" inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
                layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "s" eltwise_param { operation: PROD } \(flags) }
                layer { name: "loss" type: "EuclideanLoss" bottom: "s" bottom: "t" top: "loss" }
                """
            let net = try Net(spec: try NetSpec.load(path: try write(text, "n.prototxt")), phase: .train, seed: 4)
            net.blobs["x"]!.setData(randomBlob([2, 4], seed: 1).dataArray)
            net.blobs["t"]!.setData(randomBlob([2, 3], seed: 2).dataArray)
            let loss = try net.forwardLoss()
            net.zeroParameterDiffs()
            net.backward()
            func diff(_ layer: String) -> [Float] {
                let blob = net.parameters.first { $0.layer == layer }!.blob
                return Array(UnsafeBufferPointer(start: blob.diff, count: blob.count))
            }
            return (loss, diff("a"), diff("b"))
        }
        let plain = try run(""), stopped = try run("propagate_down: true propagate_down: false")
        // The StopGradient passes values and returns zeros (its backward is no derivative, by design).
        let stop = try makeLayer("{name: s, type: StopGradient}")
        let x = randomBlob([3, 2]), y = Blob()
        x.needsGradient = true
        try stop.setUp(bottom: [x], top: [y])
        y.allocate()
        try stop.forward(bottom: [x], top: [y])
        y.diff.update(repeating: 1, count: y.count)
        x.diff.update(repeating: 7, count: x.count)
        stop.backward(topDiff: [y], bottomDiff: [x])
        #expect(y.dataArray == x.dataArray && UnsafeBufferPointer(start: x.diff, count: x.count).allSatisfy { $0 == 0 })
        #expect(stopped.loss == plain.loss)
        #expect(stopped.a == plain.a && stopped.a.contains { $0 != 0 })
        #expect(stopped.b.allSatisfy { $0 == 0 } && plain.b.contains { $0 != 0 })
    }

    /// Folding in-place layers for inference (ReLUs into the convolutions and sums before them;
    /// a Scale, then a ReLU, into a BatchNorm, and that into its convolution) and dropping
    /// Splits give the very same floats, with those layers gone from the schedule; a ReLU
    /// after anything else, or after one already folded (two leaky ReLUs), stays.
    @Test func foldingReLUsForInferenceChangesNoValue() throws {
        let text = """
            layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }
            layer { name: "c1" type: "Convolution" bottom: "x" top: "c1" convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" } bias_filler { type: "gaussian" } } }
            layer { name: "r1" type: "ReLU" bottom: "c1" top: "c1" }
            layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2" convolution_param { num_output: 2 kernel_size: 3 group: 2 weight_filler { type: "gaussian" } } }
            layer { name: "r2" type: "ReLU" bottom: "c2" top: "c2" relu_param { negative_slope: 0.1 } }
            layer { name: "r2b" type: "ReLU" bottom: "c2" top: "c2" relu_param { negative_slope: 0.5 } }
            layer { name: "p" type: "Pooling" bottom: "c2" top: "p" pooling_param { pool: MAX kernel_size: 2 } }
            layer { name: "r3" type: "ReLU" bottom: "p" top: "p" }
            layer { name: "c3" type: "Convolution" bottom: "x" top: "c3" convolution_param { num_output: 3 kernel_size: 1 bias_term: false weight_filler { type: "gaussian" } } }
            layer { name: "bn" type: "BatchNorm" bottom: "c3" top: "c3" }
            layer { name: "sc" type: "Scale" bottom: "c3" top: "c3" scale_param { bias_term: true filler { type: "gaussian" } bias_filler { type: "gaussian" } } }
            layer { name: "r4" type: "ReLU" bottom: "c3" top: "c3" relu_param { negative_slope: 0.2 } }
            layer { name: "e" type: "Eltwise" bottom: "c3" bottom: "c3" top: "e" eltwise_param { coeff: 1 coeff: -1.5 } }
            layer { name: "r5" type: "ReLU" bottom: "e" top: "e" }
            layer { name: "ip" type: "InnerProduct" bottom: "e" top: "ip" inner_product_param { num_output: 5 weight_filler { type: "gaussian" } bias_filler { type: "gaussian" } } }
            layer { name: "r6" type: "ReLU" bottom: "ip" top: "ip" }
            """
        let path = try write(text, "fold.prototxt")
        func run(fused: Bool) throws -> (values: [Float], layers: [String], folded: [String]) {
            let net = try Net(spec: try NetSpec.load(path: path), options: NetOptions(phase: .test, seed: 2, purpose: fused ? .inference : .asWritten, keeping: ["c1", "c2", "c3", "e", "ip"]))
            net.blobs["x"]!.setData(randomBlob([2, 3, 6, 6], seed: 8).dataArray)
            for parameter in net.parameters where parameter.layer == "bn" {  // running sums as training leaves them
                parameter.blob.setData([[0.4, -1.2, 2], [0.5, 1.5, 2.5], [4]][parameter.index])
            }
            let folded = net.plan.folded.map { "\($0.layer.name)>\($0.into)" }
            try net.forward()
            return (net.blobs["p"]!.dataArray + net.blobs["c1"]!.dataArray + net.blobs["c2"]!.dataArray + net.blobs["c3"]!.dataArray
                        + net.blobs["e"]!.dataArray + net.blobs["ip"]!.dataArray, net.layers.map(\.name), folded)
        }
        // Bit for bit on the im2col path, which applies a folded BatchNorm as it writes. The
        // convolution engine multiplies it into the weights instead, which rounds differently:
        // ConvolutionEngineTests holds it to the im2col path within rounding.
        let (plain, fused) = try ConvolutionEngine.$isEnabled.withValue(false) { (try run(fused: false), try run(fused: true)) }
        #expect(fused.values == plain.values && plain.values.contains { $0 < 0 } && plain.values.allSatisfy(\.isFinite))
        #expect(fused.folded == ["r1>c1", "r2>c2", "sc>bn", "r4>bn", "r5>e", "r6>ip", "bn>c3", "x_split>x", "c3_split>c3"])
        #expect(fused.layers == ["in", "c1", "c3", "c2", "r2b", "p", "r3", "e", "ip"])
        #expect(plain.folded.isEmpty)
    }
}

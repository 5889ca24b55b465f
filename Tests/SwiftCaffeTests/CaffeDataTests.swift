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

/// Caffe's data: LMDB databases of Datums (made by convert-imageset, read by Data), their mean
/// image, HDF5 files (HDF5Data, HDF5Output) and DummyData; plus the fillers Caffe nets use.
@Suite struct CaffeDataTests {
    /// Caffe's formats, as the command line has them.
    init() { CaffeFormats.register() }

    /// Six 3×2 colour pictures with distinct pixels, their list file, and the folder.
    func pictures() throws -> (folder: String, list: String) {
        let folder = try temporaryFolder()
        var list = ""
        for index in 0..<6 {
            let pixels = (0..<18).map { UInt8(index * 30 + $0) }
            try RasterImage(width: 3, height: 2, channels: 3, pixels: pixels).write(to: folder + "/p\(index).png")
            list += "p\(index).png \(index % 3)\n"
        }
        try list.write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        return (folder, folder + "/list.txt")
    }

    /// The first batch a one-layer net of `layer` serves: data and labels.
    func firstBatch(_ layer: String, in folder: String) throws -> (data: [Float], labels: [Float], shape: [Int]) {
        let spec = try NetSpec.parse("layers:\n  - \(layer)\n", file: folder + "/net.yaml", baseDirectory: folder)
        let net = try Net(spec: spec, phase: .test)
        try net.forward()
        let data = try #require(net.blobs["data"]), labels = try #require(net.blobs["label"])
        return (data.dataArray, labels.dataArray, data.shape)
    }

    // MARK: LMDB

    /// A database made by convert-imageset serves, through Data, exactly what ImageData serves
    /// from the same list: pixels (BGR, C×H×W), labels, order; stored as pixels or as the
    /// PNG files themselves.
    @Test func dataReadsWhatConvertImagesetWrote() throws {
        let (folder, list) = try pictures()
        let expected = try firstBatch("{name: i, type: ImageData, top: [data, label], source: list.txt, batch_size: 4, scale: 0.5}", in: folder)
        for encoded in [false, true] {
            var options = ImageSetDatabase.Options()
            options.encoded = encoded
            let name = encoded ? "encoded_lmdb" : "pixels_lmdb"
            #expect(try ImageSetDatabase.convert(list: list, rootFolder: folder, to: folder + "/" + name, options: options) == 6)
            let served = try firstBatch("{name: d, type: Data, top: [data, label], source: \(name), backend: LMDB, batch_size: 4, scale: 0.5}", in: folder)
            #expect(served.shape == [4, 3, 2, 3])
            #expect(served.data == expected.data)
            #expect(served.labels == [0, 1, 2, 0])
        }
        // The records are Caffe's: keyed %08d_<path>, a Datum of C×H×W bytes.
        let database = try LMDBDatabase(readingAt: folder + "/pixels_lmdb")
        #expect(database.count == 6 && database.key(at: 2) == "00000002_p2.png")
        let datum = try Caffe_Datum(serializedBytes: try database.value(at: 2))
        #expect((datum.channels, datum.height, datum.width, datum.label) == (3, 2, 3, 2) && datum.data.count == 18)
    }

    /// Resizing and gray conversion happen when the database is written; shuffling writes a
    /// permutation of the list.
    @Test func convertImagesetResizesAndShuffles() throws {
        let (folder, list) = try pictures()
        var options = ImageSetDatabase.Options()
        (options.resizeHeight, options.resizeWidth, options.gray, options.shuffle) = (4, 6, true, true)
        // A root written with a detour still yields the paths as listed.
        try ImageSetDatabase.convert(list: list, rootFolder: folder + "/../" + URL(fileURLWithPath: folder).lastPathComponent, to: folder + "/db", options: options)
        let database = try LMDBDatabase(readingAt: folder + "/db")
        let keys = (0..<6).map { database.key(at: $0) }
        #expect(Set(keys.map { $0.dropFirst(9) }) == Set((0..<6).map { "p\($0).png" }))
        #expect(keys.map { $0.dropFirst(9) } != (0..<6).map { "p\($0).png" }[...].map { Substring($0) })
        let datum = try Caffe_Datum(serializedBytes: try database.value(at: 0))
        #expect((datum.channels, datum.height, datum.width) == (1, 4, 6))
    }

    /// compute-image-mean averages every record per pixel; a float_data database is read as
    /// floats; a damaged record is an error naming its key when its batch is served.
    @Test func meansFloatsAndDamage() throws {
        let folder = try temporaryFolder()
        let database = try LMDBDatabase(creatingAt: folder + "/db")
        var records: [(key: String, value: [UInt8])] = []
        for index in 0..<4 {
            var datum = Caffe_Datum()
            (datum.channels, datum.height, datum.width, datum.label) = (1, 1, 2, Int32(index))
            datum.floatData = [Float(index), Float(10 * index)]
            records.append(("\(index)", try datum.serializedBytes()))
        }
        try database.write(records)
        let mean = try ImageSetDatabase.mean(of: folder + "/db")
        #expect(mean.shape == [1, 1, 1, 2] && mean.values == [1.5, 15])
        let served = try firstBatch("{name: d, type: Data, top: [data, label], source: db, backend: LMDB, batch_size: 3}", in: folder)
        #expect(served.data == [0, 0, 1, 10, 2, 20] && served.labels == [0, 1, 2])

        try LMDBDatabase(creatingAt: folder + "/bad").write([("0", records[0].value), ("1", [0xFF, 0xFF, 0xFF])])
        let spec = try NetSpec.parse("layers:\n  - {name: d, type: Data, top: [data, label], source: bad, backend: LMDB, batch_size: 2}\n",
                                     file: folder + "/net.yaml", baseDirectory: folder)
        let net = try Net(spec: spec, phase: .test)
        #expect { try net.forward() } throws: { "\($0)".contains("record '1'") }
        #expect { try LMDBDatabase(readingAt: folder + "/missing") } throws: { "\($0)".contains("no LMDB database") }
        try FileManager.default.createDirectory(atPath: folder + "/leveldb", withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: folder + "/leveldb/CURRENT"))
        #expect { try LMDBDatabase(readingAt: folder + "/leveldb") } throws: { "\($0)".contains("LevelDB") }
    }

    // MARK: HDF5

    /// HDF5Data serves the rows of every listed file in order, one dataset per top; HDF5Output
    /// writes what it is given back as 'data' and 'label'.
    @Test func hdf5RoundTrip() throws {
        let folder = try temporaryFolder()
        for part in 0..<2 {
            let data = Safetensors.Tensor(shape: [3, 2], values: (0..<6).map { Float(part * 6 + $0) })
            let label = Safetensors.Tensor(shape: [3], values: (0..<3).map { Float(part * 3 + $0) })
            try HDF5File.write([("data", data), ("label", label)], to: folder + "/part\(part).h5")
        }
        try "part0.h5\npart1.h5\n".write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
        let yaml = """
            layers:
              - {name: h, type: HDF5Data, top: [data, label], source: list.txt, batch_size: 4}
              - {name: o, type: HDF5Output, bottom: [data, label], file_name: out.h5}
            """
        let net = try Net(spec: try NetSpec.parse(yaml, file: folder + "/net.yaml", baseDirectory: folder), phase: .test)
        try net.forward()
        #expect(net.blobs["data"]?.shape == [4, 2] && net.blobs["data"]?.dataArray == (0..<8).map(Float.init))
        #expect(net.blobs["label"]?.dataArray == [0, 1, 2, 3])
        let written = try HDF5File.read(path: folder + "/out.h5", datasets: ["data", "label"])
        #expect(written["data"] == Safetensors.Tensor(shape: [4, 2], values: (0..<8).map(Float.init)))
        #expect(written["label"] == Safetensors.Tensor(shape: [4], values: [0, 1, 2, 3]))
        try net.forward()  // wraps: rows 4, 5, then 0, 1
        #expect(net.blobs["label"]?.dataArray == [4, 5, 0, 1])
        #expect { try HDF5File.read(path: folder + "/part0.h5", datasets: ["features"]) } throws: { "\($0)".contains("no dataset 'features'") }
        #expect { try HDF5File.read(path: folder + "/list.txt", datasets: ["data"]) } throws: { "\($0)".contains("not an HDF5 file") }
    }

    /// A writer's exclusive flock (here taken through a second descriptor of our own, which
    /// conflicts like another process's) once made HDF5 1.10 refuse to read the file at all.
    @Test func anHDF5FileLockedByAWriterStillReads() throws {
        let folder = try temporaryFolder(), path = folder + "/locked.h5"
        let tensor = Safetensors.Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        try HDF5File.write([("data", tensor)], to: path)
        let descriptor = open(path, O_RDONLY)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        #expect(try HDF5File.read(path: path, datasets: ["data"])["data"] == tensor)
        #expect(try HDF5File.datasetNames(path: path) == ["data"])
    }

    // MARK: DummyData and fillers

    /// DummyData shapes its tops (Input's form or Caffe's num/channels/height/width), fills
    /// constants, draws random fillers anew each batch, and a restored batch count draws again
    /// what was drawn.
    @Test func dummyDataFillsAndResumes() throws {
        let layer = try makeLayer("{name: d, type: DummyData, num: 2, channels: [3, 1], height: 1, width: 2, data_filler: [{type: gaussian}, {value: 7}]}")
        let a = Blob(), b = Blob()
        try layer.setUp(bottom: [], top: [a, b])
        #expect(a.shape == [2, 3, 1, 2] && b.shape == [2, 1, 1, 2])
        a.allocate(); b.allocate()
        let stateful = try #require(layer as? any StatefulLayer)
        try layer.forward(bottom: [], top: [a, b])
        let first = a.dataArray
        let saved = stateful.saveState()
        try layer.forward(bottom: [], top: [a, b])
        let second = a.dataArray
        #expect(first != second && b.dataArray == Array(repeating: 7, count: 4))
        try stateful.restoreState(saved)
        try layer.forward(bottom: [], top: [a, b])
        #expect(a.dataArray == second)
    }

    /// The bilinear filler is FCN's upsampling kernel; sparse gaussian keeps about `sparse`
    /// weights per output; positive_unitball rows sum to 1.
    @Test func caffesOtherFillers() throws {
        var rng = RandomGenerator(seed: 3)
        let kernel = Blob(shape: [1, 1, 4, 4])
        kernel.allocate()
        FillerSpec(.bilinear).fill(kernel, using: &rng)
        let line: [Float] = [0.25, 0.75, 0.75, 0.25]
        #expect(kernel.dataArray == line.flatMap { y in line.map { $0 * y } })

        let weights = Blob(shape: [50, 400])
        weights.allocate()
        var sparse = FillerSpec(.gaussian)
        sparse.sparse = 10
        sparse.fill(weights, using: &rng)
        let kept = weights.dataArray.filter { $0 != 0 }.count
        #expect((3200...4800).contains(kept))  // 20,000 × 10/50 = 4,000 expected

        let ball = Blob(shape: [3, 5])
        ball.allocate()
        FillerSpec(.positiveUnitball).fill(ball, using: &rng)
        for row in 0..<3 {
            let values = ball.dataArray[(row * 5)..<(row * 5 + 5)]
            #expect(values.allSatisfy { $0 >= 0 } && abs(values.reduce(0, +) - 1) < 1e-6)
        }
    }

    // MARK: Caffe's example, end to end

    /// Caffe's LeNet example as Caffe ships it (our copy of lenet_train_test.prototxt and
    /// lenet_solver.prototxt, with the sources made absolute) trains from LMDB databases of
    /// Fashion-MNIST Datums and learns: after 60 iterations on 640 images the held-out
    /// accuracy is far above chance (0.1).
    @Test func caffesLeNetExampleLearnsFromLMDB() throws {
        let folder = try temporaryFolder()
        let source = "/usr/share/datasets/fashion-mnist/"
        for (split, count) in [("train", 640), ("t10k", 200)] {
            let images = try IDXFile(path: source + "\(split)-images-idx3-ubyte.gz"), labels = try IDXFile(path: source + "\(split)-labels-idx1-ubyte.gz")
            let pixels = Array(images.bytes.prefix(count * 784)), classes = Array(labels.bytes.prefix(count))
            let records = try (0..<count).map { index -> (key: String, value: [UInt8]) in
                var datum = Caffe_Datum()
                (datum.channels, datum.height, datum.width, datum.label) = (1, 28, 28, Int32(classes[index]))
                datum.data = Data(pixels[(index * 784)..<((index + 1) * 784)])
                return (String(format: "%08d", index), try datum.serializedBytes())
            }
            try LMDBDatabase(creatingAt: folder + "/\(split)_lmdb").write(records)
        }
        let net = """
            name: "LeNet"
            layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TRAIN }
                    transform_param { scale: 0.00390625 } data_param { source: "\(folder)/train_lmdb" batch_size: 64 backend: LMDB } }
            layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TEST }
                    transform_param { scale: 0.00390625 } data_param { source: "\(folder)/t10k_lmdb" batch_size: 100 backend: LMDB } }
            layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" param { lr_mult: 1 } param { lr_mult: 2 }
                    convolution_param { num_output: 20 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
            layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
            layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2" param { lr_mult: 1 } param { lr_mult: 2 }
                    convolution_param { num_output: 50 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
            layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
            layer { name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1" param { lr_mult: 1 } param { lr_mult: 2 }
                    inner_product_param { num_output: 500 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
            layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
            layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" param { lr_mult: 1 } param { lr_mult: 2 }
                    inner_product_param { num_output: 10 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
            layer { name: "accuracy" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy" include { phase: TEST } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
            """
        try net.write(toFile: folder + "/lenet_train_test.prototxt", atomically: true, encoding: .utf8)
        let solver = """
            net: "\(folder)/lenet_train_test.prototxt"
            test_iter: 2 test_interval: 500 base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005
            lr_policy: "inv" gamma: 0.0001 power: 0.75 display: 100 max_iter: 60
            snapshot: 5000 snapshot_prefix: "\(folder)/lenet" solver_mode: CPU
            """
        try solver.write(toFile: folder + "/lenet_solver.prototxt", atomically: true, encoding: .utf8)
        let trainer = try Trainer(spec: try NetSpec.load(path: folder + "/lenet_solver.prototxt"), options: TrainingOptions(output: folder))
        let before = try trainer.test()
        try trainer.run(logging: false)
        let after = try trainer.test()
        #expect(trainer.maxIter == 60 && after.images == 200)
        #expect((before.accuracy ?? 1) < 0.3 && (after.accuracy ?? 0) > 0.5, "\(before.accuracy ?? -1) -> \(after.accuracy ?? -1)")
    }
}

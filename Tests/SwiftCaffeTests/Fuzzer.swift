import CaffeProto
import Foundation
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// A mutation fuzzer for everything a user can hand `swiftcaffe`: net files (YAML and Caffe's
/// prototxt), weights (safetensors and caffemodel), solver states, IDX, CSV, LMDB and HDF5
/// data, training logs (to `plot`); and the inputs outside passes found to crash, hang or
/// quietly mislead: pipes, devices and folders where files go, caffemodels that expand,
/// graphs of thousands of readers and in-place layers, huge finite values. Each case mutates a valid input from the shipped nets and data,
/// runs the real `swiftcaffe` binary on it in its own process under an address-space limit
/// and a timeout, and classifies the outcome. A signal (a Swift trap, a stack overflow, an
/// allocation abort), a hang or an error that does not say where it comes from is a failure;
/// a clean run or a located error is a pass.
///
/// `FuzzTests` runs a few hundred cases in `swift test`; `scripts/fuzz.sh` runs thousands.
/// Every failing input is copied to `Tests/SwiftCaffeTests/FuzzCorpus/`, where `FuzzTests`
/// replays it on every run from then on.
struct Fuzzer: Sendable {
    enum Kind: String, CaseIterable, Sendable {
        case netSummary = "net-summary", netTraining = "net-train", netGradcheck = "net-gradcheck", layer, weights, state, idx, csv, log
        case prototxt, caffemodel, onnx
        case special, lmdb, hdf5, expansion, graph, huge
    }

    enum Outcome: Equatable, Sendable {
        case ran, locatedError
        /// Ran past the timeout on a net whose forward pass alone is over a GFLOP: busy with
        /// what the input asked for (a mutated num_output of 65536), not stuck.
        case slow
        case crashed(signal: Int32), hung, unlocatedError(String)
        /// Exit 0 with a number printed as nan or inf: a result that means nothing, given as one.
        case silentlyWrong(String)

        var isFailure: Bool { !(self == .ran || self == .locatedError || self == .slow) }
    }

    struct Case: Sendable {
        var kind: Kind
        var number: Int
        /// Everything the case wrote is here (its mutated files, its output); the unmutated
        /// inputs it also reads are in the base folder.
        var folder: String
        var base: String
        var arguments: [String]
    }

    struct Result: Sendable {
        var fuzzCase: Case
        var outcome: Outcome
        var output: String
    }

    let binary: String
    /// The checkout, whose nets and data the cases start from.
    let repository: String
    /// Where the cases are written.
    let root: String
    /// The address-space limit for every case (`ulimit -v`), in KiB.
    var addressSpaceKiB = 4 << 20
    /// Generous, for a debug build on a loaded machine: the inputs ask for little work (64
    /// images, two iterations), so a case that runs this long is stuck, not busy.
    var timeout: TimeInterval = 60
    var rng: RandomGenerator

    init(binary: String, repository: String, root: String, seed: UInt64) {
        self.binary = binary
        self.repository = repository
        self.root = root
        rng = RandomGenerator(seed: seed, stream: "fuzz")
    }

    // MARK: The valid inputs mutations start from

    /// The shipped Fashion-MNIST nets, their data cut to 64 images, the iris table, and the
    /// weights and state of a two-iteration LeNet run: written once into `root/base`.
    func prepareBase() throws -> String {
        let base = root + "/base"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let source = "/usr/share/datasets/fashion-mnist/"
        for split in ["train", "t10k"] {
            let images = try IDXFile(path: source + "\(split)-images-idx3-ubyte.gz")
            let labels = try IDXFile(path: source + "\(split)-labels-idx1-ubyte.gz")
            try writeIDX(base + "/\(split)-images", dimensions: [64, 28, 28], bytes: Array(images.bytes.prefix(64 * 784)))
            try writeIDX(base + "/\(split)-labels", dimensions: [64], bytes: Array(labels.bytes.prefix(64)))
            try gzip(base + "/\(split)-labels")
        }
        for net in ["lenet", "mlp", "logreg", "fashion_bn", "inception_mini", "residual"] {
            var text = try String(contentsOfFile: repository + "/nets/\(net).yaml", encoding: .utf8)
            text = text.replacingOccurrences(of: source + "train-images-idx3-ubyte.gz", with: base + "/train-images")
                .replacingOccurrences(of: source + "train-labels-idx1-ubyte.gz", with: base + "/train-labels.gz")
                .replacingOccurrences(of: source + "t10k-images-idx3-ubyte.gz", with: base + "/t10k-images")
                .replacingOccurrences(of: source + "t10k-labels-idx1-ubyte.gz", with: base + "/t10k-labels.gz")
            text = text.replacingOccurrences(of: #"batch_size: \d+"#, with: "batch_size: 8", options: .regularExpression)
            try text.write(toFile: base + "/\(net).yaml", atomically: true, encoding: .utf8)
        }
        for table in ["train", "test"] {
            try FileManager.default.copyItem(atPath: repository + "/data/iris/\(table).csv", toPath: base + "/iris-\(table).csv")
        }
        let iris = try String(contentsOfFile: repository + "/nets/iris_mlp.yaml", encoding: .utf8)
            .replacingOccurrences(of: "../data/iris/train.csv", with: base + "/iris-train.csv")
            .replacingOccurrences(of: "../data/iris/test.csv", with: base + "/iris-test.csv")
        try iris.write(toFile: base + "/iris_mlp.yaml", atomically: true, encoding: .utf8)
        // Two iterations with a log row and a test each: the weights, state and log cases start from these.
        let (status, output) = run([binary, "train", base + "/lenet.yaml", "--max-iter", "2", "--output", base + "/run", "--threads", "1", "--quiet"])
        guard status == .ran else { throw SwiftCaffeError("the fuzzer's base run failed: \(output)") }
        // Caffe's forms of the same: LeNet as a prototxt (an Input layer, so it needs no
        // database), and the weights as a caffemodel.
        try CaffeFormatTests.lenet.write(toFile: base + "/lenet.prototxt", atomically: true, encoding: .utf8)
        let (converted, message) = run([binary, "convert", base + "/run/lenet_iter_2.safetensors", base + "/lenet.caffemodel"])
        guard converted == .ran else { throw SwiftCaffeError("the fuzzer's caffemodel conversion failed: \(message)") }
        // And as an ONNX model, which the onnx cases damage and read as a net or as weights.
        let (exported, exportMessage) = run([binary, "convert", base + "/lenet.yaml", base + "/lenet.onnx", "--weights", base + "/run/lenet_iter_2.safetensors"])
        guard exported == .ran else { throw SwiftCaffeError("the fuzzer's ONNX export failed: \(exportMessage)") }
        try prepareDatabases(base)
        return base
    }

    /// The 64 training images as an LMDB database of Datums with a net that reads it
    /// (`lmdb.yaml`), and as a gzip-compressed, chunked HDF5 file with a net (`hdf5.yaml`).
    func prepareDatabases(_ base: String) throws {
        let images = try IDXFile(path: base + "/train-images"), labels = try [UInt8](gunzip(bytes(base + "/train-labels.gz")).dropFirst(8))
        let pixels = Array(images.bytes)
        let records = try (0..<64).map { index -> (key: String, value: [UInt8]) in
            var datum = Caffe_Datum()
            (datum.channels, datum.height, datum.width, datum.label) = (1, 28, 28, Int32(labels[index]))
            datum.data = Data(pixels[(index * 784)..<((index + 1) * 784)])
            return (String(format: "%08d", index), try datum.serializedBytes())
        }
        try LMDBDatabase(creatingAt: base + "/lmdb").write(records)
        try HDF5File.writeChunked([("data", Safetensors.Tensor(shape: [64, 1, 28, 28], values: pixels.prefix(64 * 784).map { Float($0) / 255 })),
                                   ("label", Safetensors.Tensor(shape: [64], values: labels.prefix(64).map(Float.init)))],
                                  to: base + "/data.h5", chunkRows: 16, compressed: true)
        try "data.h5\n".write(toFile: base + "/list.txt", atomically: true, encoding: .utf8)
        let net = try String(contentsOfFile: base + "/lenet.yaml", encoding: .utf8)
        for (kind, layer) in [("lmdb", "{name: fashion, type: Data, top: [data, label], source: SOURCE, backend: LMDB, batch_size: 8, scale: 0.00390625, phase: train}"),
                              ("hdf5", "{name: fashion, type: HDF5Data, top: [data, label], source: SOURCE, batch_size: 8, phase: train}")] {
            // LeNet with its train data layer replaced; the test layer keeps reading IDX.
            var lines = net.components(separatedBy: "\n")
            guard let start = lines.firstIndex(where: { $0.contains("type: IDXData") }).map({ $0 - 1 }) else { continue }
            var end = start + 1
            while end < lines.count && !lines[end].hasPrefix("  - ") { end += 1 }
            lines.replaceSubrange(start..<end, with: ["  - " + layer.replacingOccurrences(of: "SOURCE", with: "SOURCE_\(kind)")])
            let text = lines.joined(separator: "\n")
            try text.write(toFile: base + "/\(kind).yaml", atomically: true, encoding: .utf8)
            // Unmutated, the net trains: a mutated case that fails fails for its mutation.
            let probe = text.replacingOccurrences(of: "SOURCE_lmdb", with: base + "/lmdb").replacingOccurrences(of: "SOURCE_hdf5", with: base + "/list.txt")
            try probe.write(toFile: base + "/\(kind)-probe.yaml", atomically: true, encoding: .utf8)
            let (outcome, message) = run([binary, "train", base + "/\(kind)-probe.yaml", "--max-iter", "1", "--output", base + "/probe-\(kind)"])
            guard outcome == .ran else { throw SwiftCaffeError("the fuzzer's \(kind) net does not train unmutated: \(message)") }
        }
    }

    // MARK: Cases

    mutating func makeCase(_ kind: Kind, number: Int, base: String) throws -> Case {
        let folder = root + "/\(kind.rawValue)-\(number)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let nets = ["lenet", "mlp", "logreg", "fashion_bn", "inception_mini", "residual", "iris_mlp"]
        let output = ["--output", folder + "/out", "--threads", "1", "--quiet"]
        switch kind {
        case .netSummary, .netTraining, .netGradcheck:
            let net = nets[Int(rng.next() % UInt64(nets.count))]
            var text = try String(contentsOfFile: base + "/\(net).yaml", encoding: .utf8)
            for _ in 0...(rng.next() % 3) { text = mutateText(text) }
            let path = folder + "/net.yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let arguments = switch kind {
            case .netSummary: ["summary", path]
            // Every layer's backward on the mutated keys, a few elements each.
            case .netGradcheck: ["gradcheck", path, "--batch", "1", "--max-elements", "8", "--threads", "1"]
            default: ["train", path, "--max-iter", "2"] + output
            }
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: arguments)
        case .layer:
            let path = folder + "/net.yaml"
            try randomLayerNet().write(toFile: path, atomically: true, encoding: .utf8)
            return Case(kind: kind, number: number, folder: folder, base: base,
                        arguments: ["gradcheck", path, "--batch", "2", "--max-elements", "8", "--threads", "1"])
        case .weights:
            let path = folder + "/weights.safetensors"
            try Data(mutateSafetensors(try bytes(base + "/run/lenet_iter_2.safetensors"))).write(to: URL(fileURLWithPath: path))
            let arguments = rng.next() % 2 == 0 ? ["test", base + "/lenet.yaml", "--weights", path, "--iterations", "1"]
                : ["train", base + "/lenet.yaml", "--weights", path, "--max-iter", "1"] + output
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: arguments)
        case .state:
            // The state names its weights file beside it.
            try FileManager.default.copyItem(atPath: base + "/run/lenet_iter_2.safetensors", toPath: folder + "/lenet_iter_2.safetensors")
            let path = folder + "/lenet_iter_2.solverstate"
            try Data(mutateSafetensors(try bytes(base + "/run/lenet_iter_2.solverstate"))).write(to: URL(fileURLWithPath: path))
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: ["train", base + "/lenet.yaml", "--resume", path, "--max-iter", "12"] + output)
        case .idx:
            let names = ["train-images", "train-labels.gz"]
            let name = names[Int(rng.next() % 2)]
            let path = folder + "/\(name)"
            let original = try bytes(base + "/\(name)")
            try Data(name.hasSuffix(".gz") && rng.next() % 2 == 0 ? mutateBytes(original) : try mutateIDX(name.hasSuffix(".gz") ? gunzip(original) : original, gzipped: name.hasSuffix(".gz")))
                .write(to: URL(fileURLWithPath: path))
            let other = names.first { $0 != name }!
            try FileManager.default.copyItem(atPath: base + "/\(other)", toPath: folder + "/\(other)")
            let net = try String(contentsOfFile: base + "/lenet.yaml", encoding: .utf8)
                .replacingOccurrences(of: base + "/train-images", with: folder + "/train-images")
                .replacingOccurrences(of: base + "/train-labels.gz", with: folder + "/train-labels.gz")
            try net.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: ["train", folder + "/net.yaml", "--max-iter", "2"] + output)
        case .prototxt:
            var text = try String(contentsOfFile: base + "/lenet.prototxt", encoding: .utf8)
            for _ in 0...(rng.next() % 3) { text = mutateText(text) }
            let path = folder + "/net.prototxt"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: rng.next() % 2 == 0 ? ["summary", path]
                : ["gradcheck", path, "--batch", "1", "--max-elements", "8", "--threads", "1"])
        case .caffemodel:
            let path = folder + "/weights.caffemodel"
            try Data(mutateBytes(try bytes(base + "/lenet.caffemodel"))).write(to: URL(fileURLWithPath: path))
            return Case(kind: kind, number: number, folder: folder, base: base,
                        arguments: ["test", base + "/lenet.yaml", "--weights", path, "--iterations", "1"])
        case .onnx:
            let path = folder + "/model.onnx"
            try Data(mutateBytes(try bytes(base + "/lenet.onnx"))).write(to: URL(fileURLWithPath: path))
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: rng.next() % 2 == 0 ? ["summary", path]
                : ["test", base + "/lenet.yaml", "--weights", path, "--iterations", "1"])
        case .special:
            return try specialFileCase(folder: folder, number: number, base: base, output: output)
        case .lmdb:
            try FileManager.default.createDirectory(atPath: folder + "/lmdb", withIntermediateDirectories: true)
            try Data(mutateLMDB(try bytes(base + "/lmdb/data.mdb"))).write(to: URL(fileURLWithPath: folder + "/lmdb/data.mdb"))
            let net = try String(contentsOfFile: base + "/lmdb.yaml", encoding: .utf8).replacingOccurrences(of: "SOURCE_lmdb", with: folder + "/lmdb")
            try net.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: rng.next() % 2 == 0
                ? ["compute-image-mean", folder + "/lmdb", folder + "/mean.binaryproto"] : ["train", folder + "/net.yaml", "--max-iter", "2"] + output)
        case .hdf5:
            try Data(mutateBytes(try bytes(base + "/data.h5"))).write(to: URL(fileURLWithPath: folder + "/data.h5"))
            try "data.h5\n".write(toFile: folder + "/list.txt", atomically: true, encoding: .utf8)
            let net = try String(contentsOfFile: base + "/hdf5.yaml", encoding: .utf8).replacingOccurrences(of: "SOURCE_hdf5", with: folder + "/list.txt")
            try net.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: rng.next() % 2 == 0
                ? ["summary", folder + "/net.yaml"] : ["train", folder + "/net.yaml", "--max-iter", "2"] + output)
        case .expansion:
            let path = folder + "/weights.caffemodel"
            try Data(expandingCaffemodel(try bytes(base + "/lenet.caffemodel"))).write(to: URL(fileURLWithPath: path))
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: rng.next() % 2 == 0
                ? ["convert", path, folder + "/weights.safetensors"] : ["test", base + "/lenet.yaml", "--weights", path, "--iterations", "1"])
        case .graph:
            let path = folder + "/net.yaml"
            try largeGraph().write(toFile: path, atomically: true, encoding: .utf8)
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: ["summary", path])
        case .huge:
            return try hugeValuesCase(folder: folder, number: number, base: base, output: output)
        case .log:
            let path = folder + "/run_log.csv"
            var text = try String(contentsOfFile: base + "/run/lenet_log.csv", encoding: .utf8)
            for _ in 0...(rng.next() % 3) { text = mutateTable(text) }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let axis = rng.next() % 2 == 0 ? "iteration" : "seconds"
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: ["plot", path, "-o", folder + "/curves.svg", "--x", axis])
        case .csv:
            let path = folder + "/iris-train.csv"
            var text = try String(contentsOfFile: base + "/iris-train.csv", encoding: .utf8)
            for _ in 0...(rng.next() % 3) { text = mutateTable(text) }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let net = try String(contentsOfFile: base + "/iris_mlp.yaml", encoding: .utf8).replacingOccurrences(of: base + "/iris-train.csv", with: path)
            try net.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
            return Case(kind: kind, number: number, folder: folder, base: base, arguments: ["train", folder + "/net.yaml", "--max-iter", "2"] + output)
        }
    }

    func execute(_ fuzzCase: Case) -> Result {
        var (outcome, output) = run([binary] + fuzzCase.arguments)
        if outcome == .hung, let net = fuzzCase.arguments.first(where: { $0.hasSuffix(".yaml") }), let flops = forwardFLOPs(net), flops >= 1e9 {
            outcome = .slow
        }
        return Result(fuzzCase: fuzzCase, outcome: outcome, output: output)
    }

    /// The forward FLOPs of one batch of `net`'s train phase, from `summary` (which allocates
    /// nothing, so it answers quickly for any size).
    func forwardFLOPs(_ net: String) -> Double? {
        let (outcome, output) = run([binary, "summary", net])
        guard outcome == .ran, let line = output.split(separator: "\n").first(where: { $0.hasPrefix("per image: ") }) else { return nil }
        let words = line.split(separator: " ")  // per image: 1.23 G FLOPs forward; batch 64
        guard words.count >= 8, let value = Double(words[2]), let batch = Double(words[words.count - 1]) else { return nil }
        let scale: Double = switch words[3] { case "G": 1e9; case "M": 1e6; case "k": 1e3; default: 1 }
        return value * scale * batch
    }

    // MARK: The inputs outside passes found

    /// A pipe, a device, a folder or a dangling link where a file goes, and the command that
    /// reads it there: none may block, and each is an error naming the path.
    mutating func specialFileCase(folder: String, number: Int, base: String, output: [String]) throws -> Case {
        let target = folder + "/" + pick(["weights.safetensors", "weights", "net.yaml", "images", "list.txt", "data.mdb"])
        switch rng.next() % 4 {
        case 0: mkfifo(target, 0o644)
        case 1: try FileManager.default.createSymbolicLink(atPath: target, withDestinationPath: pick(["/dev/zero", "/dev/null", "/dev/urandom"]))
        case 2: try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        default: try FileManager.default.createSymbolicLink(atPath: target, withDestinationPath: folder + "/nowhere")
        }
        let name = URL(fileURLWithPath: target).lastPathComponent
        let arguments: [String]
        switch name {
        case "net.yaml": arguments = rng.next() % 2 == 0 ? ["summary", target] : ["draw", target, "--output", folder + "/net.dot"]
        case "images":
            let net = try String(contentsOfFile: base + "/lenet.yaml", encoding: .utf8).replacingOccurrences(of: base + "/train-images", with: target)
            try net.write(toFile: folder + "/lenet.yaml", atomically: true, encoding: .utf8)
            arguments = ["train", folder + "/lenet.yaml", "--max-iter", "1"] + output
        case "list.txt":
            try "layers:\n  - {name: h, type: HDF5Data, top: data, source: list.txt, batch_size: 2}\n".write(toFile: folder + "/h5.yaml", atomically: true, encoding: .utf8)
            arguments = ["summary", folder + "/h5.yaml"]
        case "data.mdb": arguments = ["compute-image-mean", folder, folder + "/mean.binaryproto"]
        default: arguments = ["test", base + "/lenet.yaml", "--weights", target, "--iterations", "1"]
        }
        return Case(kind: .special, number: number, folder: folder, base: base, arguments: arguments)
    }

    /// An LMDB data file cut at a page boundary or anywhere, with page headers or the meta
    /// pages changed, or bytes flipped anywhere.
    mutating func mutateLMDB(_ original: [UInt8]) -> [UInt8] {
        var bytes = original
        let page = 4096, pages = max(bytes.count / page, 1)
        switch rng.next() % 5 {
        case 0: bytes = Array(bytes.prefix(page * Int(rng.next() % UInt64(pages))))
        case 1: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
        case 2:
            for _ in 0...(rng.next() % 3) { bytes[page * Int(rng.next() % UInt64(pages)) + Int(rng.next() % 16)] = UInt8(truncatingIfNeeded: rng.next()) }
        case 3:
            for _ in 0...(rng.next() % 3) { bytes[Int(rng.next() % UInt64(min(2 * page, bytes.count)))] = UInt8(truncatingIfNeeded: rng.next()) }
        default: bytes = mutateBytes(bytes)
        }
        return bytes
    }

    /// A caffemodel whose `layer` field repeats up to millions of times (empty, or holding
    /// empty blobs), before or after the real layers: a few bytes each on disk.
    mutating func expandingCaffemodel(_ original: [UInt8]) -> [UInt8] {
        let count = Int(pick([1000, 100_000, 2_000_000, 5_000_000] as [Int]))
        let entry: [UInt8] = pick([[0xA2, 0x06, 0x00], [0xA2, 0x06, 0x02, 0x3A, 0x00], [0x12, 0x00], [0xA2, 0x06, 0x04, 0x3A, 0x02, 0x0A, 0x00]])
        var filler = entry  // doubled, then cut: a few copies of memory, not millions of appends
        while filler.count < count * entry.count { filler += filler }
        filler.removeLast(filler.count - count * entry.count)
        return rng.next() % 2 == 0 ? filler + original : original + filler
    }

    /// A net of thousands of layers around one blob: readers, layers in place on it, a Concat
    /// of many bottoms, Splits of Splits. `summary` plans it without memory.
    mutating func largeGraph() -> String {
        let readers = Int(rng.next() % 20_000) + 1, chain = Int(rng.next() % 50_000), bottoms = Int(rng.next() % 40_000) + 1
        var lines = ["layers:", "  - {name: in, type: Input, top: x, shape: [1, 2]}"]
        lines.reserveCapacity(readers + chain + 3)
        for index in 0..<readers { lines.append("  - {name: r\(index), type: \(pick(["ReLU", "Sigmoid", "TanH"])), bottom: x, top: r\(index)}") }
        for index in 0..<chain { lines.append("  - {name: c\(index), type: \(pick(["ReLU", "Scale", "PReLU"])), bottom: x, top: x}") }
        lines.append("  - {name: cat, type: Concat, bottom: [\((0..<bottoms).map { "r\($0 % readers)" }.joined(separator: ", "))], top: all, axis: 1}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Values that are finite but near Float's end, where a layer's arithmetic overflows:
    /// weights scaled up, a CSV of huge numbers, a jvp direction of them. The outcome must be
    /// a located error or a result; a NaN printed as a result is a failure.
    mutating func hugeValuesCase(folder: String, number: Int, base: String, output: [String]) throws -> Case {
        let huge = pick(["1e20", "1e30", "3e38", "-3e38"]), factor = Float(huge)!
        switch rng.next() % 3 {
        case 0:
            var file = try TensorFiles.read(base + "/run/lenet_iter_2.safetensors")
            for index in file.tensors.indices where rng.next() % 2 == 0 { file.tensors[index].tensor.values = file.tensors[index].tensor.values.map { $0 * factor } }
            try TensorFiles.write(file, to: folder + "/huge.safetensors")
            return Case(kind: .huge, number: number, folder: folder, base: base, arguments: rng.next() % 2 == 0
                ? ["test", base + "/lenet.yaml", "--weights", folder + "/huge.safetensors", "--iterations", "1"]
                : ["train", base + "/lenet.yaml", "--weights", folder + "/huge.safetensors", "--max-iter", "2"] + output)
        case 1:
            let rows = try String(contentsOfFile: base + "/iris-train.csv", encoding: .utf8).split(separator: "\n").enumerated().map { index, row in
                index == 0 || rng.next() % 3 != 0 ? String(row) : row.split(separator: ",").enumerated().map { $0 == 4 ? String($1) : huge }.joined(separator: ",")
            }
            try rows.joined(separator: "\n").write(toFile: folder + "/iris-train.csv", atomically: true, encoding: .utf8)
            let net = try String(contentsOfFile: base + "/iris_mlp.yaml", encoding: .utf8).replacingOccurrences(of: base + "/iris-train.csv", with: folder + "/iris-train.csv")
            try net.write(toFile: folder + "/net.yaml", atomically: true, encoding: .utf8)
            return Case(kind: .huge, number: number, folder: folder, base: base, arguments: ["train", folder + "/net.yaml", "--max-iter", "2"] + output)
        default:
            try TensorFiles.write(TensorFile(tensors: [("direction", Safetensors.Tensor(shape: [8, 1, 28, 28], values: Array(repeating: factor, count: 8 * 784)))]),
                                  to: folder + "/direction.safetensors")
            return Case(kind: .huge, number: number, folder: folder, base: base,
                        arguments: ["jvp", base + "/lenet.yaml", "--weights", base + "/run/lenet_iter_2.safetensors", "--direction", folder + "/direction.safetensors", "--threads", "1"])
        }
    }

    // MARK: Mutations

    /// Numbers at the edges of every range a file's number passes through.
    static let interestingNumbers = [
        "0", "-1", "1", "2", "3", "7", "9", "64", "65536", "2147483647", "2147483648", "4294967296",
        "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1e30", "1e300", "-1e30", "0.5",
        "-0.5", ".nan", ".inf", "-.inf", "1e-45", "-2147483648",
    ]
    static let insertedKeys = [
        "stride: 9", "stride: 65536", "pad: 3", "pad: 2147483647", "kernel_size: 2", "kernel_size: 65536", "dilation: 65536",
        "group: 3", "axis: -1", "axis: 7", "num_output: 1048576", "num_output: 65536", "loss_weight: 1e38", "loss_weight: -3e38",
        "phase: test", "top_k: 65536", "tiles: 65536", "global_pooling: true", "pool: AVE", "bias_term: false", "ignore_label: -1",
        "lr_mult: 0", "param: [{name: shared}]", "scale: 1e38", "batch_size: 1000000", "shuffle: true", "label_names: [a]",
    ]
    static let insertedLines = [
        "    stride: 9", "    pad: 3", "    group: 2", "    dilation: 2", "    axis: -1", "    loss_weight: 1e38",
        "    phase: test", "    kernel_size: 2", "    stride: 65536", "    num_output: 100000", "    shuffle: true",
        "  - {name: log, type: Log, bottom: label, top: label}", "  - {name: exp, type: Exp, bottom: label, top: label}",
        "  - {name: big, type: InnerProduct, bottom: data, top: big, num_output: 1048576}", "net: net.yaml", "  iter_size: 1000",
        "  - {name: tile, type: Tile, bottom: data, top: tiled, tiles: 2147483647}", "\t", "  - &a {name: a}", "  - *a",
        // Layers of every kind with edge values, wherever they land.
        "  - {name: f1, type: Deconvolution, bottom: data, top: f1, num_output: 2, kernel_size: 3, stride: 65536}",
        "  - {name: f2, type: Crop, bottom: [data, data], top: f2, offset: 2147483647}",
        "  - {name: f3, type: Slice, bottom: data, top: [f3a, f3b], axis: 1, slice_point: 1}",
        "  - {name: f4, type: Reshape, bottom: data, top: f4, shape: [0, -1, 7]}",
        "  - {name: f5, type: LRN, bottom: data, top: f5, local_size: 2147483647}",
        "  - {name: f6, type: ArgMax, bottom: data, top: f6, top_k: 2147483647}",
        "  - {name: f7, type: Pooling, bottom: data, top: f7, kernel_size: 3, stride: 2, pad: 2}",
        "  - {name: f8, type: Convolution, bottom: data, top: f8, num_output: 2, kernel_size: 3, dilation: 2147483647}",
        "  - {name: f9, type: Im2col, bottom: data, top: f9, kernel_size: 28, stride: 1}",
        "  - {name: f10, type: LocallyConnected, bottom: data, top: f10, num_output: 1, kernel_size: 27}",
        "  - {name: f11, type: Reduction, bottom: data, top: f11, axis: 3, operation: ASUM}",
        "  - {name: f12, type: Embed, bottom: label, top: f12, input_dim: 3, num_output: 2}",
        "  - {name: f13, type: Tile, bottom: data, top: f13, axis: -1, tiles: 65536}",
        "  - {name: f14, type: Concat, bottom: [data, data], top: f14, axis: 3}",
        "  - {name: f15, type: BatchNorm, bottom: data, top: f15}",
        "  - {name: f16, type: Softmax, bottom: data, top: f16, axis: -1}",
        "  - {name: f17, type: Accuracy, bottom: [data, label], top: f17, top_k: 65536}",
        "  - {name: f18, type: InfogainLoss, bottom: [data, label], top: f18}",
        "  - {name: f19, type: HingeLoss, bottom: [data, label], top: f19}",
        "  - {name: f20, type: ContrastiveLoss, bottom: [data, data, label], top: f20}",
        "  - {name: f21, type: Flatten, bottom: data, top: f21, axis: 2, end_axis: 1}",
        "  - {name: f22, type: Eltwise, bottom: [data, data], top: f22, operation: SUM, coeff: [1e38, 1e38]}",
        "  - {name: f23, type: PReLU, bottom: data, top: f23, channel_shared: true}",
        "  - {name: f24, type: Dropout, bottom: data, top: data, dropout_ratio: 1}",
        "  - {name: f25, type: SigmoidCrossEntropyLoss, bottom: [data, data], top: f25, loss_weight: -1}",
        "  - {name: f26, type: Scale, bottom: [data, label], top: f26, axis: 0}",
        "  - {name: f27, type: Bias, bottom: data, top: f27, axis: 1, num_axes: -1}",
    ]

    mutating func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }

    static let layerKeys = [
        "kernel_size", "stride", "pad", "num_output", "axis", "end_axis", "num_axes", "offset", "shape", "slice_point",
        "tiles", "top_k", "local_size", "alpha", "beta", "k", "operation", "coeff", "pool", "group", "dilation",
        "bias_term", "input_dim", "power", "scale", "shift", "base", "negative_slope", "threshold", "min", "max",
        "dropout_ratio", "eps", "use_global_stats", "moving_average_fraction", "margin", "norm", "ignore_label",
        "normalization", "channel_shared", "out_max_val", "global_pooling", "norm_region", "legacy_version", "transpose",
    ]
    static let layerValues = [
        "0", "1", "2", "3", "-1", "-2", "5", "65536", "2147483647", "1e30", "-1e30", "0.5", "1e-30", "true", "false",
        "MAX", "AVE", "SUM", "PROD", "ASUM", "SUMSQ", "MEAN", "L1", "L2", "VALID", "FULL", "NONE", "BATCH_SIZE",
        "ACROSS_CHANNELS", "WITHIN_CHANNEL", "[1, 2]", "[0, -1]", "[2147483647]", "[]", "[0, 0, 0, 0, 0]",
    ]

    /// The keys a layer type reads: built once with only the keys most layers require, its
    /// spec remembers every key the layer asked for (layers read all their keys up front).
    static func knownKeys(of type: String) -> [String] {
        let probe = "{name: l, type: \(type), num_output: 2, kernel_size: 1, input_dim: 4, tiles: 2}"
        guard let spec = try? LayerSpec(try YAMLParser.parse(probe, file: "probe"), index: 0, baseDirectory: "") else { return [] }
        _ = try? LayerRegistry.make(spec, context: LayerContext(phase: .train, seed: 1))
        let common: Set = ["name", "type", "bottom", "top", "phase", "param", "loss_weight"]
        return spec.askedKeys.filter { !common.contains($0) }
    }

    /// A net of one random layer type after an Input of random small shapes (data, a second
    /// data blob of the same shape and labels), given up to four keys with edge values, for
    /// `gradcheck`: every layer's set-up, forward and backward on shapes and keys no shipped
    /// net uses.
    mutating func randomLayerNet() -> String {
        let rank = rng.next() % 4 == 0 ? Int(rng.next() % 3) + 1 : 4
        let shape = (0..<rank).map { _ in Int(rng.next() % 4) + 1 }
        // The binary's own types: not the data layers, nor layers the tests register in this process.
        let types = LayerRegistry.typeNames.filter { name in
            LayerRegistry.type(named: name).map { isShippedLayer($0) && $0.bottomCount != 0...0 } == true
        }
        let type = pick(types)
        // As many bottoms as the type takes (mostly), the first the data, then data, another
        // blob of its shape, or the labels.
        let accepted = LayerRegistry.type(named: type)?.bottomCount ?? 1...1
        let count = rng.next() % 8 == 0 ? Int(rng.next() % 3) + 1 : min(accepted.lowerBound + Int(rng.next() % 2), min(accepted.upperBound, 3))
        let bottoms = ["data"] + (1..<max(count, 1)).map { _ in pick(["data", "other", "label", "label"]) }
        let known = Self.knownKeys(of: type)
        var keys: [String] = []
        for _ in 0..<(rng.next() % 4) {
            let key = known.isEmpty || rng.next() % 8 == 0 ? pick(Self.layerKeys) : pick(known)
            let value = rng.next() % 2 == 0 ? "\(Int(rng.next() % 4))" : pick(Self.layerValues)
            keys.append("\(key): \(value)")
        }
        if known.contains("num_output") && !keys.contains(where: { $0.hasPrefix("num_output") }) { keys.append("num_output: \(Int(rng.next() % 4) + 1)") }
        if known.contains("kernel_size") && !keys.contains(where: { $0.hasPrefix("kernel_size") }) { keys.append("kernel_size: \(Int(rng.next() % 3) + 1)") }
        let tops = rng.next() % 4 == 0 ? "[out, out2]" : "out"
        return """
        layers:
          - {name: in, type: Input, top: [data, other, label], shape: [\(shape), \(shape), [\(shape[0])]]}
          - {name: l, type: \(type), bottom: [\(bottoms.joined(separator: ", "))], top: \(tops)\(keys.map { ", " + $0 }.joined())}

        """
    }

    /// One edit of a net file's text: a number replaced by an edge value, a word by another
    /// or by a very long one, a line deleted, duplicated, swapped or inserted, or a cut.
    mutating func mutateText(_ text: String) -> String {
        var lines = text.components(separatedBy: "\n")
        guard !lines.isEmpty else { return text }
        let line = Int(rng.next() % UInt64(lines.count))
        switch rng.next() % 10 {
        case 8, 9:
            // A key with an edge value added to a layer written as a one-line mapping.
            guard let close = lines[line].lastIndex(of: "}"), lines[line].contains("{name:") else { break }
            lines[line].insert(contentsOf: ", " + pick(Self.insertedKeys), at: close)
        case 0, 1, 2:
            lines[line] = replaceToken(in: lines[line], pattern: #"-?\d+(\.\d+)?(e-?\d+)?"#) { fuzzer in fuzzer.pick(Self.interestingNumbers) }
        case 3:
            let words = text.matches(of: #/[A-Za-z_]\w+/#).map { String($0.output) }
            lines[line] = replaceToken(in: lines[line], pattern: #"[A-Za-z_]\w+"#) { fuzzer in
                fuzzer.rng.next() % 8 == 0 ? String(repeating: "x", count: fuzzer.rng.next() % 4 == 0 ? 200_000 : 100) : fuzzer.pick(words.isEmpty ? ["x"] : words)
            }
        case 4: lines.remove(at: line)
        case 5: lines.insert(lines[line], at: line)
        case 6: lines.insert(pick(Self.insertedLines), at: line)
        default:
            let other = Int(rng.next() % UInt64(lines.count))
            lines.swapAt(line, other)
        }
        if rng.next() % 20 == 0 { return String(lines.joined(separator: "\n").prefix(Int(rng.next() % UInt64(text.count + 1)))) }
        return lines.joined(separator: "\n")
    }

    mutating func replaceToken(in line: String, pattern: String, with make: (inout Fuzzer) -> String) -> String {
        let ranges = line.ranges(of: try! Regex(pattern))
        guard !ranges.isEmpty else { return line }
        var copy = line
        copy.replaceSubrange(ranges[Int(rng.next() % UInt64(ranges.count))], with: make(&self))
        return copy
    }

    /// A table edit: a cell set to an edge value or text, a row cut short or doubled, CRLF line ends.
    mutating func mutateTable(_ text: String) -> String {
        var rows = text.components(separatedBy: "\n")
        let row = Int(rng.next() % UInt64(rows.count))
        var cells = rows[row].components(separatedBy: ",")
        switch rng.next() % 6 {
        case 0, 1:
            // The label (last) column half the time: it becomes an index.
            let column = rng.next() % 2 == 0 ? cells.count - 1 : Int(rng.next() % UInt64(cells.count))
            cells[column] = pick(Self.interestingNumbers + ["abc", "", " ", "1e30", "-0", "nan", "inf", "2.5", "-3"])
        case 2: cells.removeLast()
        case 3: cells.append("1")
        case 4: return text.replacingOccurrences(of: "\n", with: "\r\n")
        default: rows.insert(rows[row], at: row)
        }
        rows[row] = cells.joined(separator: ",")
        return rows.joined(separator: "\n")
    }

    /// A safetensors edit: a number in the JSON header set to an edge value, the header length
    /// changed, bytes flipped, or the file cut.
    mutating func mutateSafetensors(_ original: [UInt8]) -> [UInt8] {
        var bytes = original
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        switch rng.next() % 5 {
        case 0, 1:
            guard let header = String(bytes: bytes[8..<(8 + headerLength)], encoding: .utf8) else { return mutateBytes(bytes) }
            let edited = replaceToken(in: header, pattern: #"-?\d+(\.\d+)?(e-?\d+)?"#) { fuzzer in fuzzer.pick(Self.interestingNumbers.filter { !$0.contains("nan") && !$0.contains("inf") } + ["1e999", "-1", "0.5"]) }
            var json = Array(edited.utf8)
            while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
            var result: [UInt8] = []
            withUnsafeBytes(of: UInt64(json.count).littleEndian) { result.append(contentsOf: $0) }
            return result + json + bytes[(8 + headerLength)...]
        case 2:
            let value = UInt64(pick(["0", "1", "7", "4294967296", "9223372036854775807", "18446744073709551615", "\(headerLength - 1)", "\(headerLength + 8)"]))!
            withUnsafeBytes(of: value.littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
            return bytes
        default:
            return mutateBytes(bytes)
        }
    }

    /// An IDX edit: a dimension set to an edge value, the type or rank byte changed, the file
    /// cut or extended; re-gzipped when the original was.
    mutating func mutateIDX(_ original: [UInt8], gzipped: Bool) throws -> [UInt8] {
        var bytes = original
        let rank = Int(bytes[3])
        switch rng.next() % 4 {
        case 0, 1:
            let dimension = Int(rng.next() % UInt64(rank))
            let value = UInt32(pick(["0", "1", "63", "65", "255", "65536", "16777216", "2147483647", "4294967295"]))!
            for b in 0..<4 { bytes[4 + 4 * dimension + b] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(3 - b))) }
        case 2: bytes[Int(rng.next() % 4)] = UInt8(truncatingIfNeeded: rng.next())
        default: bytes = mutateBytes(bytes)
        }
        return gzipped ? try gzipBytes(bytes) : bytes
    }

    /// Flips bytes, cuts the end, or appends garbage.
    mutating func mutateBytes(_ original: [UInt8]) -> [UInt8] {
        var bytes = original
        switch rng.next() % 3 {
        case 0:
            for _ in 0...(rng.next() % 8) where !bytes.isEmpty { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
        case 1: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
        default: bytes += (0..<(rng.next() % 64 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        return bytes
    }

    // MARK: Running

    /// Runs `command` under the address-space limit and the timeout; a pass is a clean exit or
    /// exit status 1 with a message that names a file (`path:line:column: error:`), a layer,
    /// one of the input files or the command-line option it is about.
    func run(_ command: [String]) -> (Outcome, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(addressSpaceKiB); exec \"$@\"", "sh"] + command
        let outputFile = root + "/.output-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: outputFile, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputFile) }
        guard let handle = FileHandle(forWritingAtPath: outputFile) else { return (.unlocatedError("cannot capture output"), "") }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return (.unlocatedError("cannot start: \(error)"), "") }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        let hung = process.isRunning
        if hung { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? handle.close()
        // The head (where errors are) and the tail (where verdicts are) of what it printed.
        let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)).map { $0.count > 8000 ? $0.prefix(4000) + "\n…\n" + $0.suffix(4000) : $0 } ?? ""
        if hung { return (.hung, output) }
        if process.terminationReason == .uncaughtSignal { return (.crashed(signal: process.terminationStatus), output) }
        switch process.terminationStatus {
        case 0 where output.contains(try! Regex(#"(^|[^A-Za-z_])-?(nan|inf)($|[^A-Za-z_])"#)):
            return (.silentlyWrong(String(output.suffix(300))), output)
        case 0: return (.ran, output)
        case 1 where Self.isLocated(output): return (.locatedError, output)
        // gradcheck's verdict on a mutated net (extreme keys defeat finite differences): a report, not an error.
        case 1 where command.dropFirst().first == "gradcheck" && output.contains("gradient check FAILED"): return (.ran, output)
        default: return (.unlocatedError(String(output.suffix(300))), output)
        }
    }

    /// Whether an error message says where its problem is.
    static func isLocated(_ output: String) -> Bool {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("error:") }) else { return false }
        return line.contains(try! Regex(#"^[^ ]+:\d+:\d+: error:"#)) || line.contains("layer '") || line.contains("'/") || line.contains("error: --")
    }

    // MARK: Files

    func bytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw SwiftCaffeError("cannot read '\(path)'") }
        return [UInt8](data)
    }

    func gzip(_ path: String) throws {
        try Data(gzipBytes(try bytes(path))).write(to: URL(fileURLWithPath: path + ".gz"))
    }

    func gzipBytes(_ input: [UInt8]) throws -> [UInt8] { try pipe(input, through: ["gzip", "-c"]) }
    func gunzip(_ input: [UInt8]) throws -> [UInt8] { try pipe(input, through: ["gzip", "-dc"]) }

    private func pipe(_ input: [UInt8], through command: [String]) throws -> [UInt8] {
        let source = root + "/.pipe-\(UUID().uuidString)"
        try Data(input).write(to: URL(fileURLWithPath: source))
        defer { try? FileManager.default.removeItem(atPath: source) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command + [source]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return [UInt8](data)
    }
}

import CaffeProto
import Foundation
import SwiftCaffe

/// Turns a Caffe `solver.prototxt` into the tree of a SwiftCaffe net file with its `solver:`
/// section: the net it names (`net:` or `net_param`, or a `train_net` and a `test_net`, which
/// become the two phases of one net) read and translated with the solver's
/// `train_state`/`test_state`, and the solver's fields under `solver:`.
///
/// Caffe resolves a solver's paths (`net`, `snapshot_prefix`, data sources) against the
/// working directory, not the solver's folder, and so does this: Caffe's own examples are run
/// from Caffe's root with `--solver=examples/mnist/lenet_solver.prototxt`.
enum CaffeSolverTranslation {
    /// Fields our solver reads under the same name.
    private static let sameName: Set<String> = [
        "base_lr", "display", "average_loss", "max_iter", "iter_size", "lr_policy", "gamma", "power", "momentum",
        "weight_decay", "regularization_type", "stepsize", "stepvalue", "clip_gradients", "snapshot", "snapshot_prefix",
        "delta", "momentum2", "rms_decay", "test_interval", "test_iter", "type",
    ]
    /// Fields that choose among Caffe's devices or output formats and mean nothing here.
    private static let ignored: Set<String> = [
        "solver_mode", "device_id", "debug_info", "snapshot_diff", "snapshot_format", "test_compute_loss",
        "test_initialization", "snapshot_after_train", "layer_wise_reduce",
    ]
    /// Caffe's old `solver_type` enum, as `type` names.
    private static let solverTypes = ["SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad", "RMSPROP": "RMSProp",
                                      "ADADELTA": "AdaDelta", "ADAM": "Adam"]

    /// Whether a prototxt's top-level fields are a solver's rather than a net's.
    static func isSolver(_ fields: [PrototxtField]) -> Bool {
        fields.contains { ["net", "net_param", "train_net", "train_net_param", "test_net", "test_net_param", "base_lr"].contains($0.name) }
            && !fields.contains { ["layer", "layers"].contains($0.name) }
    }

    /// The net named by the solver, with a `solver:` section; and the file the net came from.
    static func netTree(_ fields: [PrototxtField], file: String, workingDirectory: String, state: NetState,
                        warnings: inout [String]) throws -> (tree: YAMLNode, netFile: String) {
        var solverPairs: [(key: YAMLNode, value: YAMLNode)] = []
        var train = state, test = state
        // "net", "train_net" and "test_net", each from a file or written inline (`*_param`).
        var nets: [String: (fields: [PrototxtField], file: String, at: FileLocation)] = [:]
        func key(_ name: String, at location: FileLocation) -> YAMLNode { YAMLNode(.scalar(name, quoted: false), at: location) }
        for (name, group) in CaffeNetTranslation.grouped(fields) {
            let first = group[0]
            switch name {
            case _ where sameName.contains(name):
                solverPairs.append((key(name, at: first.location), CaffeNetTranslation.value(of: group)))
            case _ where ignored.contains(name): break
            case "solver_type":
                let old = try CaffeNetTranslation.strings(first).last ?? ""
                guard let type = solverTypes[old] else {
                    throw SwiftCaffeError("'solver_type' is '\(old)'", at: first.valueLocation, hint: "use one of \(solverTypes.keys.sorted().joined(separator: ", "))")
                }
                if !fields.contains(where: { $0.name == "type" }) {
                    solverPairs.append((key("type", at: first.location), YAMLNode(.scalar(type, quoted: false), at: first.valueLocation)))
                }
            case "random_seed":
                // Caffe's default, -1, means "seed from the clock"; ours is the absence of the key.
                if let seed = Int(wholeText: try CaffeNetTranslation.strings(first).last ?? ""), seed >= 0 {
                    solverPairs.append((key(name, at: first.location), CaffeNetTranslation.value(of: group)))
                }
            case "train_state": train = try train.merging(CaffeNetTranslation.messageFields(first))
            case "test_state":
                if group.count > 1 {
                    throw SwiftCaffeError("more than one 'test_state' (one per test net) is not supported", at: group[1].location,
                                          hint: "SwiftCaffe tests one net; keep one test_state")
                }
                test = try test.merging(CaffeNetTranslation.messageFields(first))
            case "net", "train_net", "test_net":
                if group.count > 1 {
                    throw SwiftCaffeError("more than one '\(name)' (one per test net) is not supported", at: group[1].location,
                                          hint: "SwiftCaffe tests one net; keep one")
                }
                let path = try CaffeNetTranslation.strings(first).last ?? ""
                let resolved = SpecMapping.resolve(path, against: workingDirectory)
                // Any name but another format's: Caffe reads whatever it is given as a prototxt
                // (pycaffe's tests write nets to temporary files without an extension).
                let suffix = URL(fileURLWithPath: resolved).pathExtension.lowercased()
                guard !["yaml", "yml", "onnx", "caffemodel", "safetensors", "solverstate"].contains(suffix) else {
                    throw SwiftCaffeError("'\(name)' names '\(path)', which is not a .prototxt", at: first.valueLocation,
                                          hint: "a solver.prototxt names a net .prototxt; a YAML solver file names YAML nets")
                }
                let identity = { (path: String) in URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path }
                if identity(resolved) == identity(file) {
                    throw SwiftCaffeError("'\(name)' names this solver file itself", at: first.valueLocation,
                                          hint: "point '\(name)' at the net's .prototxt, the file with the layers")
                }
                nets[name] = (try PrototxtReader.read(fileAt: resolved, as: Caffe_NetParameter.self), resolved, first.location)
            case "net_param", "train_net_param", "test_net_param":
                if group.count > 1 {
                    throw SwiftCaffeError("more than one '\(name)' (one per test net) is not supported", at: group[1].location,
                                          hint: "SwiftCaffe tests one net; keep one")
                }
                nets[String(name.dropLast("_param".count))] = (try CaffeNetTranslation.messageFields(first), file, first.location)
            case "weights":
                throw SwiftCaffeError("'weights' in the solver is not supported", at: first.location, hint: "pass the weights with --weights")
            default:
                throw SwiftCaffeError("the solver field '\(name)' is not supported", at: first.location)
            }
        }
        let tree: YAMLNode, netFile: String
        if let net = nets["net"] {
            if let other = nets["train_net"] ?? nets["test_net"] {
                throw SwiftCaffeError("'net' and a separate train or test net at once", at: other.at, hint: "name the nets one way: 'net', or 'train_net' and 'test_net'")
            }
            tree = try CaffeNetTranslation.netTree(net.fields, file: net.file, train: train, test: test, warnings: &warnings)
            netFile = net.file
        } else if let trainNet = nets["train_net"] {
            // Caffe builds each in its own phase; here they become the two phases of one net,
            // whose layers of one name share their parameters, as Caffe's test net shares the
            // train net's.
            let trainTree = try CaffeNetTranslation.netTree(trainNet.fields, file: trainNet.file, train: train, test: train, warnings: &warnings)
            var layers = CaffeNetTranslation.layers(of: trainTree, in: .train)
            if let testNet = nets["test_net"] {
                layers += CaffeNetTranslation.layers(of: try CaffeNetTranslation.netTree(testNet.fields, file: testNet.file, train: test, test: test,
                                                                                         warnings: &warnings), in: .test)
            }
            let pairs = (trainTree.mapping ?? []).map { $0.key.scalar == "layers" ? ($0.key, YAMLNode(.sequence(layers), at: $0.value.location)) : $0 }
            tree = YAMLNode(.mapping(pairs), at: trainTree.location)
            netFile = trainNet.file
        } else {
            throw SwiftCaffeError(nets["test_net"] == nil ? "the solver names no net" : "the solver names a test net but no train net",
                                  at: FileLocation(file: file, line: 1, column: 1),
                                  hint: "add 'net: \"path/to/net.prototxt\"'")
        }
        guard case .mapping(var pairs) = tree.kind else { return (tree, netFile) }
        let start = FileLocation(file: file, line: 1, column: 1)
        pairs.append((key("solver", at: start), YAMLNode(.mapping(solverPairs), at: start)))
        return (YAMLNode(.mapping(pairs), at: tree.location), netFile)
    }
}

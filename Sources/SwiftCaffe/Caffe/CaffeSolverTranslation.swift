import CaffeProto
import Foundation

/// Turns a Caffe `solver.prototxt` into the tree of a SwiftCaffe net file with its `solver:`
/// section: the net it names (`net:` or `net_param`) read and translated with the solver's
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
        fields.contains { ["net", "net_param", "train_net", "train_net_param", "base_lr"].contains($0.name) }
            && !fields.contains { ["layer", "layers"].contains($0.name) }
    }

    /// The net named by the solver, with a `solver:` section; and the file the net came from.
    static func netTree(_ fields: [PrototxtField], file: String, workingDirectory: String, state: NetState) throws -> (tree: YAMLNode, netFile: String) {
        var solverPairs: [(key: YAMLNode, value: YAMLNode)] = []
        var train = state, test = state
        var net: (fields: [PrototxtField], file: String)?
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
            case "net":
                let path = try CaffeNetTranslation.strings(first).last ?? ""
                let resolved = SpecMapping.resolve(path, against: workingDirectory)
                guard resolved.hasSuffix(".prototxt") || resolved.hasSuffix(".pbtxt") else {
                    throw SwiftCaffeError("'net' names '\(path)', which is not a .prototxt", at: first.valueLocation,
                                          hint: "a solver.prototxt names a net .prototxt; a YAML solver file names YAML nets")
                }
                net = (try PrototxtReader.read(fileAt: resolved, as: Caffe_NetParameter.self), resolved)
            case "net_param": net = (try CaffeNetTranslation.messageFields(first), file)
            case "train_net", "train_net_param", "test_net", "test_net_param":
                throw SwiftCaffeError("separate train and test nets ('\(name)') are not supported", at: first.location,
                                      hint: "put both phases in one net file with include { phase: TRAIN } / { phase: TEST } and name it with 'net:'")
            case "weights":
                throw SwiftCaffeError("'weights' in the solver is not supported", at: first.location, hint: "pass the weights with --weights")
            default:
                throw SwiftCaffeError("the solver field '\(name)' is not supported", at: first.location)
            }
        }
        guard let net else {
            throw SwiftCaffeError("the solver names no net", at: FileLocation(file: file, line: 1, column: 1),
                                  hint: "add 'net: \"path/to/net.prototxt\"'")
        }
        let tree = try CaffeNetTranslation.netTree(net.fields, file: net.file, train: train, test: test)
        guard case .mapping(var pairs) = tree.kind else { return (tree, net.file) }
        let start = FileLocation(file: file, line: 1, column: 1)
        pairs.append((key("solver", at: start), YAMLNode(.mapping(solverPairs), at: start)))
        return (YAMLNode(.mapping(pairs), at: tree.location), net.file)
    }
}

import Foundation
import SwiftCaffe

/// A folder of models laid out as Triton lays out its model repository:
///
///     REPOSITORY/
///       lenet/
///         config.yaml            (optional, for every version; see `ModelConfig`)
///         1/  lenet.yaml  lenet_iter_938.safetensors
///         2/  lenet.yaml  lenet_iter_1876.safetensors  config.yaml (optional)
///       caffenet/
///         1/  deploy.prototxt  bvlc_reference_caffenet.caffemodel
///
/// A version folder is named by a whole number and holds one net file (YAML, Caffe's
/// prototxt, or ONNX) and at most one weights file (.safetensors, .caffemodel or Caffe's .h5).
/// The newest version is the one a request gets when it names none. A version that does not
/// load is kept with its error: the readiness and metadata endpoints report it, and every
/// other model serves as usual.
final class ModelRepository: Sendable {
    /// One version of one model, loaded or not.
    final class Version: Sendable {
        let model: String
        let number: Int
        let folder: String
        /// The batcher of the loaded net, or why it did not load.
        let state: Result<InferenceQueue, LoadError>

        init(model: String, number: Int, folder: String, state: Result<InferenceQueue, LoadError>) {
            self.model = model
            self.number = number
            self.folder = folder
            self.state = state
        }

        var queue: InferenceQueue? { try? state.get() }
    }

    /// Why a version did not load: the error as the command line would print it.
    struct LoadError: Error, Sendable { var message: String }

    /// The models by name, each with its versions, oldest first.
    let models: [String: [Version]]

    static let netExtensions: Set<String> = ["yaml", "yml", "prototxt", "onnx"]
    static let weightsExtensions: Set<String> = ["safetensors", "caffemodel", "h5"]

    /// Loads every version of every model under `path`. A repository that is not a folder, or
    /// holds no model, is an error; a model that does not load is not.
    init(path: String, policy: BatchingPolicy, threads: Int, metrics: ServerMetrics, log: (String) -> Void) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
            throw SwiftCaffeError("the model repository '\(path)' is not a folder",
                                  hint: "give a folder holding MODEL/VERSION/ folders, each with a net file and its weights (docs/serving.md)")
        }
        var models: [String: [Version]] = [:]
        for name in try Self.entries(path) where Self.isFolder(path + "/" + name) {
            let modelFolder = path + "/" + name
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), name.utf8.count <= 128 else {
                log("skipping '\(modelFolder)': a model's name is letters, digits, '-', '_' and '.'")
                continue
            }
            let numbers = try Self.entries(modelFolder).compactMap { entry -> Int? in
                guard let number = Int(entry), number >= 1, String(number) == entry, Self.isFolder(modelFolder + "/" + entry) else { return nil }
                return number
            }.sorted()
            guard !numbers.isEmpty else {
                let error = LoadError(message: "'\(modelFolder)' holds no version folder (1/, 2/, ...) with a net file and its weights")
                models[name] = [Version(model: name, number: 1, folder: modelFolder + "/1", state: .failure(error))]
                log("model '\(name)': \(error.message)")
                continue
            }
            models[name] = numbers.map { number in
                let folder = modelFolder + "/\(number)"
                let state: Result<InferenceQueue, LoadError>
                do {
                    let net = try Self.load(folder: folder, modelFolder: modelFolder, maxBatch: policy.maxBatch)
                    state = .success(InferenceQueue(net: net, policy: policy, threads: threads,
                                                    metrics: metrics.model(name, version: number), name: "\(name)/\(number)"))
                    log("model '\(name)' version \(number): ready (\(net.inputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")) -> \(net.outputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")))")
                } catch {
                    state = .failure(LoadError(message: "\(error)"))
                    log("model '\(name)' version \(number): not loaded: \(error)")
                }
                return Version(model: name, number: number, folder: folder, state: state)
            }
        }
        guard !models.isEmpty else {
            throw SwiftCaffeError("the model repository '\(path)' holds no model folder",
                                  hint: "make MODEL/1/ in it, holding a net file and its weights (docs/serving.md)")
        }
        self.models = models
    }

    /// The net and weights of one version folder, with its config.
    static func load(folder: String, modelFolder: String, maxBatch: Int) throws -> ServedNet {
        let files = try entries(folder).filter { !isFolder(folder + "/" + $0) && $0 != ModelConfig.fileName }
        func suffix(_ file: String) -> String { URL(fileURLWithPath: file).pathExtension.lowercased() }
        let nets = files.filter { netExtensions.contains(suffix($0)) }
        let weights = files.filter { weightsExtensions.contains(suffix($0)) }
        guard nets.count == 1 else {
            throw SwiftCaffeError(nets.isEmpty ? "'\(folder)' holds no net file (.yaml, .prototxt or .onnx)"
                                               : "'\(folder)' holds \(nets.count) net files (\(nets.joined(separator: ", "))); which one to serve is unclear",
                                  hint: "keep one net file in each version folder")
        }
        guard weights.count <= 1 else {
            throw SwiftCaffeError("'\(folder)' holds \(weights.count) weights files (\(weights.joined(separator: ", "))); which one to serve is unclear",
                                  hint: "keep one weights file in each version folder: a newer snapshot is a new version")
        }
        let config = try ModelConfig.load(modelFolder: modelFolder, versionFolder: folder)
        return try ServedNet(netFile: folder + "/" + nets[0], weights: weights.first.map { folder + "/" + $0 }, config: config, maxBatch: maxBatch)
    }

    /// The version `number` of `model`, or its newest when nil; a ServeError (404) naming
    /// what exists otherwise.
    func version(of model: String, _ number: String?) throws -> Version {
        guard let versions = models[model] else {
            throw ServeError(.notFound, "no model '\(model)' in the repository; it holds \(models.keys.sorted().joined(separator: ", "))")
        }
        guard let number else { return versions.last! }
        guard let wanted = Int(number), let version = versions.first(where: { $0.number == wanted }) else {
            throw ServeError(.notFound, "model '\(model)' has no version '\(number)'; its versions are \(versions.map { "\($0.number)" }.joined(separator: ", "))")
        }
        return version
    }

    /// Every version, models by name.
    var allVersions: [Version] { models.keys.sorted().flatMap { models[$0]! } }

    /// Stops every batcher once its waiting requests have run.
    func stop() { for version in allVersions { version.queue?.stop() } }

    private static func entries(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw SwiftCaffeError("cannot list '\(path)': \((error as NSError).localizedDescription)", hint: "check that the folder exists and can be read")
        }
    }

    private static func isFolder(_ path: String) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
    }
}

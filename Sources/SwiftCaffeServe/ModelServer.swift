import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import CaffeInterop
import ONNXInterop
import SwiftCaffe

/// `swiftcaffe serve`: the models of a repository (`ModelRepository`) behind KServe's v2
/// inference protocol over HTTP, as Triton's and KServe's clients speak it, with dynamic
/// batching (`InferenceQueue`) and Prometheus metrics.
///
///     let server = try ModelServer(repository: "models", options: ServerOptions(port: 8000))
///     try await server.run()          // until SIGTERM or SIGINT, or `shutdown()`
///
/// The endpoints (docs/serving.md has them all, with examples):
/// - `GET /v2`, `/v2/health/live`, `/v2/health/ready`: the server;
/// - `GET /v2/models/NAME[/versions/V]`, `…/ready`, `…/config`: a model's metadata;
/// - `POST /v2/models/NAME[/versions/V]/infer`: tensors in, tensors out (JSON, or the binary
///   tensor data extension); `…/classify`: a PNG or JPEG body in, the top classes out;
/// - `POST /v2/repository/index`: every model and version with its state;
/// - `GET /metrics`: Prometheus's text format.
///
/// Errors are `{"error": "…"}` with a 4xx or 5xx status, naming the field at fault.
public final class ModelServer: Sendable {
    let repository: ModelRepository
    let options: ServerOptions
    let metrics: ServerMetrics
    private let http: HTTPServing

    /// Loads every model of `repository` (`log` hears how each went).
    public init(repository path: String, options: ServerOptions, log: (String) -> Void = { _ in }) throws {
        CaffeFormats.register()  // prototxt and caffemodel files in the repository
        ONNXFormats.register()
        guard (1...4096).contains(options.policy.maxBatch) else { throw SwiftCaffeError("--max-batch must be between 1 and 4096") }
        guard options.policy.queueLimit >= 1 else { throw SwiftCaffeError("--max-queue must be at least 1") }
        self.options = options
        http = HTTPServing(host: options.host, port: options.port)
        metrics = ServerMetrics()
        repository = try ModelRepository(path: path, policy: options.policy, threads: options.threads, metrics: metrics, log: log)
    }

    /// The models and their versions, with each one's state ("READY" or the reason it is not).
    public var versions: [(model: String, version: Int, ready: Bool, reason: String)] {
        repository.allVersions.map { version in
            switch version.state {
            case .success: (version.model, version.number, true, "")
            case .failure(let error): (version.model, version.number, false, error.message)
            }
        }
    }

    /// Serves until SIGTERM or SIGINT (or `shutdown()`): then it stops taking connections,
    /// answers the requests it has, and returns. `listening` hears the port once it is bound
    /// (the one the system chose for port 0). A port that cannot be bound is a SwiftCaffeError.
    public func run(listening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router()
        router.middlewares.add(JSONErrors())
        routes(router)
        defer { repository.stop() }
        try await http.run(router, label: "swiftcaffe.serve", listening: listening)
    }

    /// `run`, for a program without async code (a command line): blocks the calling thread
    /// until the server has stopped, then rethrows what `run` threw.
    public func runBlocking(listening: @escaping @Sendable (Int) -> Void = { _ in }) throws {
        try HTTPServing.blocking { try await self.run(listening: listening) }
    }

    /// Starts the graceful shutdown that SIGTERM starts.
    public func shutdown() async {
        await http.shutdown()
    }

    // MARK: Routes

    private func routes(_ router: Router<BasicRequestContext>) {
        router.get("/v2") { _, _ in
            json(.ok, ["name": "swiftcaffe", "version": SwiftCaffeVersion.current,
                       "extensions": ["binary_tensor_data", "classification", "model_repository"]])
        }
        router.get("/v2/health/live") { _, _ in Response(status: .ok) }
        router.get("/v2/health/ready") { _, _ in
            let broken = self.repository.allVersions.filter { $0.queue == nil }
            guard broken.isEmpty else {
                throw ServeError(.serviceUnavailable, "not every model loaded: " + broken.map { "'\($0.model)' version \($0.number)" }.joined(separator: ", ")
                                 + " (POST /v2/repository/index gives the reasons)")
            }
            return Response(status: .ok)
        }
        router.post("/v2/repository/index") { _, _ in
            json(.ok, self.repository.allVersions.map { version -> [String: Any] in
                var entry: [String: Any] = ["name": version.model, "version": "\(version.number)", "state": version.queue == nil ? "UNAVAILABLE" : "READY"]
                if case .failure(let error) = version.state { entry["reason"] = error.message }
                return entry
            })
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: self.metrics.text())))
        }
        for prefix in ["/v2/models/:model", "/v2/models/:model/versions/:version"] {
            router.get(RouterPath(prefix)) { _, context in try self.metadata(try self.version(context)) }
            router.get(RouterPath(prefix + "/ready")) { _, context in
                let version = try self.version(context)
                if case .failure(let error) = version.state { throw ServeError(.serviceUnavailable, "model '\(version.model)' version \(version.number) did not load: \(error.message)") }
                return Response(status: .ok)
            }
            router.get(RouterPath(prefix + "/config")) { _, context in try self.config(try self.version(context)) }
            router.post(RouterPath(prefix + "/infer")) { request, context in try await self.infer(request, try self.version(context)) }
            router.post(RouterPath(prefix + "/classify")) { request, context in try await self.classify(request, try self.version(context)) }
        }
    }

    private func version(_ context: BasicRequestContext) throws -> ModelRepository.Version {
        try repository.version(of: context.parameters.get("model") ?? "", context.parameters.get("version"))
    }

    /// The loaded net of `version`, or 503 with why it did not load.
    private func queue(_ version: ModelRepository.Version) throws -> InferenceQueue {
        switch version.state {
        case .success(let queue): return queue
        case .failure(let error): throw ServeError(.serviceUnavailable, "model '\(version.model)' version \(version.number) did not load: \(error.message)")
        }
    }

    private func metadata(_ version: ModelRepository.Version) throws -> Response {
        let net = try queue(version).net
        func tensors(_ list: [TensorSignature]) -> [[String: Any]] { list.map { ["name": $0.name, "datatype": "FP32", "shape": $0.shape] } }
        return json(.ok, ["name": version.model, "versions": repository.models[version.model]!.map { "\($0.number)" }, "platform": "swiftcaffe",
                          "inputs": tensors(net.inputs), "outputs": tensors(net.outputs)])
    }

    /// Triton's model configuration, as its clients read it (`get_model_config`).
    private func config(_ version: ModelRepository.Version) throws -> Response {
        let queue = try queue(version), net = queue.net
        func tensors(_ list: [TensorSignature]) -> [[String: Any]] {
            list.map { ["name": $0.name, "data_type": "TYPE_FP32", "dims": Array($0.shape.dropFirst())] }
        }
        var config: [String: Any] = ["name": version.model, "platform": "swiftcaffe", "max_batch_size": net.maxBatch,
                                     "input": tensors(net.inputs), "output": tensors(net.outputs),
                                     "version_policy": ["latest": ["num_versions": 1]]]
        if queue.policy.enabled {
            config["dynamic_batching"] = ["preferred_batch_size": net.batchClasses,
                                          "max_queue_delay_microseconds": Int(InferenceQueue.seconds(queue.policy.maxDelay) * 1e6)]
        }
        if !net.classNames.isEmpty { config["labels"] = net.classNames }
        return json(.ok, config)
    }

    // MARK: Inference

    private func infer(_ request: Request, _ version: ModelRepository.Version) async throws -> Response {
        try await answering(version) { queue in
            if let encoding = request.headers[.contentEncoding], encoding.lowercased() != "identity" {
                throw ServeError(.unsupportedMediaType, "Content-Encoding '\(encoding)' is not taken; send the body uncompressed")
            }
            var headerLength: Int?
            if let field = HTTPField.Name("Inference-Header-Content-Length"), let text = request.headers[field] {
                guard let length = Int(text), length >= 0 else { throw ServeError.badRequest("Inference-Header-Content-Length '\(text)' is not a byte count") }
                headerLength = length
            }
            let body = try await self.body(of: request)
            let decoded = try InferenceRequest.decode(body, headerLength: headerLength)
            let (inputs, samples) = try Self.tensors(decoded.inputs, for: queue.net, model: version.model)
            let asked = try Self.outputs(decoded, for: queue.net, model: version.model)
            queue.metrics.samples.increment(by: Int64(samples))
            let results = try await queue.submit(inputs, samples: samples, wanted: Array(Set(asked.map(\.name))))
            let response = InferenceResponse(model: version.model, version: version.number, id: decoded.id, outputs: asked.map { output in
                let tensor = results[output.name]!
                let contents = output.classification.map { InferenceResponse.classes(of: tensor, top: $0, names: queue.net.classNames) } ?? .values(tensor)
                return InferenceResponse.Output(name: output.name, contents: contents, binary: output.binary ?? decoded.binaryOutput)
            })
            let (bytes, jsonLength) = response.encode()
            var headers = HTTPFields()
            headers[.contentType] = jsonLength == nil ? "application/json" : "application/octet-stream"
            if let jsonLength, let field = HTTPField.Name("Inference-Header-Content-Length") { headers[field] = "\(jsonLength)" }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// `POST …/classify?top=K`: a PNG or JPEG picture in, its `K` most probable classes out (5
    /// by default), prepared as `swiftcaffe classify` prepares it.
    private func classify(_ request: Request, _ version: ModelRepository.Version) async throws -> Response {
        try await answering(version) { queue in
            let net = queue.net
            guard let picture = net.picture else {
                throw ServeError.badRequest("model '\(version.model)' takes \(net.inputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")), not pictures; use /infer")
            }
            var top = 5
            if let text = request.uri.queryParameters["top"] {
                guard let count = Int(text), count >= 1 else { throw ServeError.badRequest("query parameter top='\(text)' must be a whole number ≥ 1") }
                top = count
            }
            let body = try await self.body(of: request)
            guard !body.isEmpty else { throw ServeError.badRequest("the body is empty; send a PNG or JPEG picture") }
            let sample: [Float]
            do {
                sample = try picture.sample(from: body)
            } catch {
                throw ServeError.badRequest("the body is not a picture this server decodes: \(error)")
            }
            var shape = net.inputs[0].shape
            shape[0] = 1
            queue.metrics.samples.increment()
            let scores = try await queue.submit([net.inputs[0].name: Safetensors.Tensor(shape: shape, values: sample)], samples: 1,
                                                wanted: [net.outputs[0].name])[net.outputs[0].name]!
            var row = scores.values
            if !net.outputIsProbabilities {
                let largest = row.max() ?? 0
                row = row.map { Foundation.exp($0 - largest) }
                let sum = row.reduce(0, +)
                row = row.map { $0 / sum }
            }
            let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(top)
            return json(.ok, ["model_name": version.model, "model_version": "\(version.number)",
                              "classes": order.map { index -> [String: Any] in
                                  ["index": index, "label": index < net.classNames.count ? net.classNames[index] : "\(index)", "probability": Double(row[index])]
                              }])
        }
    }

    /// Runs `body` for an inference request to `version`: counts it, times it, and records
    /// its status in the model's metrics.
    private func answering(_ version: ModelRepository.Version, _ body: (InferenceQueue) async throws -> Response) async throws -> Response {
        let queue = try queue(version)
        let started = ContinuousClock.now
        queue.metrics.requests.increment()
        do {
            let response = try await body(queue)
            queue.metrics.response(status: response.status.code)
            queue.metrics.requestDuration.record(ContinuousClock.now - started)
            return response
        } catch {
            queue.metrics.response(status: JSONErrors.status(of: error).code)
            throw error
        }
    }

    /// The request's body, refused with 413 past `--max-body-mb`.
    private func body(of request: Request) async throws -> [UInt8] {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: options.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ServeError(.contentTooLarge, "the body is larger than \(options.maxBodyBytes >> 20) MB (--max-body-mb)")
        } catch is NIOTooManyBytesError {
            throw ServeError(.contentTooLarge, "the body is larger than \(options.maxBodyBytes >> 20) MB (--max-body-mb)")
        }
    }

    /// The request's tensors checked against the net's inputs: every input once, the same
    /// sizes but for the first axis, and the same number of samples in each.
    static func tensors(_ given: [InferenceRequest.Input], for net: ServedNet, model: String) throws -> ([String: Safetensors.Tensor], Int) {
        var tensors: [String: Safetensors.Tensor] = [:]
        var samples: Int?
        let names = net.inputs.map(\.name).joined(separator: ", ")
        for (index, input) in given.enumerated() {
            let field = "inputs[\(index)]"
            guard let signature = net.inputs.first(where: { $0.name == input.name }) else {
                throw ServeError.badRequest("\(field).name '\(input.name)' is not an input of model '\(model)'; its inputs are \(names)")
            }
            guard tensors[input.name] == nil else { throw ServeError.badRequest("\(field).name '\(input.name)' is given twice") }
            let expected = signature.shape.map { $0 < 0 ? "N" : "\($0)" }.joined(separator: "×")
            guard input.shape.count == signature.shape.count, input.shape.indices.allSatisfy({ $0 == 0 || input.shape[$0] == signature.shape[$0] }) else {
                throw ServeError.badRequest("\(field).shape \(input.shape) does not fit '\(input.name)', which takes \(expected) (N samples)")
            }
            guard input.shape[0] >= 1 else { throw ServeError.badRequest("\(field).shape \(input.shape) holds no sample") }
            guard samples == nil || samples == input.shape[0] else {
                throw ServeError.badRequest("\(field) holds \(input.shape[0]) samples, but the inputs before it hold \(samples!)")
            }
            samples = input.shape[0]
            tensors[input.name] = Safetensors.Tensor(shape: input.shape, values: input.values)
        }
        if let missing = net.inputs.first(where: { tensors[$0.name] == nil }) {
            throw ServeError.badRequest("no tensor for the input '\(missing.name)' of model '\(model)' (its inputs are \(names))")
        }
        return (tensors, samples ?? 0)
    }

    /// The outputs the request asks for, checked: known names, and classification only on
    /// scores of one row a sample.
    static func outputs(_ request: InferenceRequest, for net: ServedNet, model: String) throws -> [InferenceRequest.Output] {
        guard let asked = request.outputs else { return net.defaultOutputs.map { InferenceRequest.Output(name: $0) } }
        let names = net.outputs.map(\.name).joined(separator: ", ")
        for (index, output) in asked.enumerated() where !net.outputs.contains(where: { $0.name == output.name }) {
            throw ServeError.badRequest("outputs[\(index)].name '\(output.name)' is not an output of model '\(model)'; its outputs are \(names) (a model's config.yaml can add blobs under 'outputs')")
        }
        return asked
    }
}

/// Where and how `ModelServer` serves.
public struct ServerOptions: Sendable {
    public var host: String
    /// 0: a free port the system chooses (`run(listening:)` tells which).
    public var port: Int
    public var policy: BatchingPolicy
    /// The largest request body taken; larger ones get 413.
    public var maxBodyBytes: Int
    /// Threads for each forward's kernels.
    public var threads: Int

    public init(host: String = "127.0.0.1", port: Int = 8000, policy: BatchingPolicy = BatchingPolicy(),
                maxBodyBytes: Int = 64 << 20, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.host = host
        self.port = port
        self.policy = policy
        self.maxBodyBytes = maxBodyBytes
        self.threads = threads
    }
}

/// A JSON response of Foundation values.
func json(_ status: HTTPResponse.Status, _ value: Any) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONText.encode(value))))
}

/// Turns every error a route throws, and the router's own 404 and 405, into the v2
/// protocol's `{"error": "…"}` with its status.
struct JSONErrors: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let status = Self.status(of: error)
            var response = json(status, ["error": Self.message(of: error, request: request)])
            if let retry = (error as? ServeError)?.retryAfter { response.headers[.retryAfter] = "\(retry)" }
            return response
        }
    }

    static func status(of error: any Error) -> HTTPResponse.Status {
        switch error {
        case let error as ServeError: error.status
        case let error as HTTPError: error.status
        default: .internalServerError
        }
    }

    static func message(of error: any Error, request: Request) -> String {
        switch error {
        case let error as ServeError: error.message
        case let error as HTTPError where error.status == .notFound: "no endpoint \(request.method) \(request.uri.path); the endpoints are under /v2 (docs/serving.md)"
        case let error as HTTPError: error.body ?? "\(error.status)"
        default: "\(error)"
        }
    }
}

/// A value behind a lock, for the few mutable fields of otherwise immutable servers.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}

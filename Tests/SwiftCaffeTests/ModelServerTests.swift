import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import SwiftCaffe
@testable import SwiftCaffeServe

/// `swiftcaffe serve` (`ModelServer`): a server on a free loopback port, spoken to over HTTP
/// as a client would. Every endpoint, dynamic batching seen in the metrics, and every error.
@Suite(.serialized) struct ModelServerTests {
    /// A picture classifier small enough to run in microseconds: 8×8 gray pictures, 3 classes.
    static let net = """
        name: tiny
        layers:
          - {name: data, type: Input, top: data, shape: [4, 1, 8, 8], scale: 0.00390625}
          - {name: ip, type: InnerProduct, bottom: data, top: ip, num_output: 3, weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian, std: 0.3}}
          - {name: prob, type: Softmax, bottom: ip, top: prob}
        """

    /// A repository with `tiny` (version 1, and version 2 with labels from a config) and a
    /// `broken` model whose net file does not parse. Returns the folder and version 2's net.
    static func repository() throws -> (folder: String, reference: Net) {
        let folder = try temporaryFolder()
        for version in ["tiny/1", "tiny/2", "broken/1"] {
            try FileManager.default.createDirectory(atPath: folder + "/" + version, withIntermediateDirectories: true)
        }
        try net.write(toFile: folder + "/tiny/1/tiny.yaml", atomically: true, encoding: .utf8)
        try net.write(toFile: folder + "/tiny/2/tiny.yaml", atomically: true, encoding: .utf8)
        try Net(spec: try NetSpec.load(path: folder + "/tiny/1/tiny.yaml"), phase: .test, seed: 1).saveWeights(to: folder + "/tiny/1/w.safetensors")
        let reference = try Net(spec: try NetSpec.load(path: folder + "/tiny/2/tiny.yaml"), phase: .test, seed: 2)
        try reference.saveWeights(to: folder + "/tiny/2/w.safetensors")
        try "labels: [cat, dog, bird]\n".write(toFile: folder + "/tiny/2/config.yaml", atomically: true, encoding: .utf8)
        try "name: broken\nlayers: [\n".write(toFile: folder + "/broken/1/net.yaml", atomically: true, encoding: .utf8)
        return (folder, reference)
    }

    /// A running server on a free port; `body` speaks to it, then it is shut down gracefully
    /// and must return.
    static func serving(_ folder: String, policy: BatchingPolicy = BatchingPolicy(), maxBodyBytes: Int = 1 << 20,
                        _ body: (Client) async throws -> Void) async throws {
        let server = try ModelServer(repository: folder, options: ServerOptions(port: 0, policy: policy, maxBodyBytes: maxBodyBytes, threads: 1))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let running = Task { try await server.run { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw SwiftCaffeError("the server did not start") }
        do {
            try await body(Client(port: port))
        } catch {
            await server.shutdown()
            _ = try? await running.value
            throw error
        }
        await server.shutdown()
        try await running.value
    }

    /// HTTP over URLSession, as any client would.
    struct Client {
        let port: Int

        func request(_ method: String, _ path: String, body: [UInt8]? = nil, headers: [String: String] = [:]) async throws -> (status: Int, headers: [String: String], body: [UInt8]) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = method
            request.httpBody = body.map { Data($0) }
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
            let (data, response) = try await Self.session.data(for: request)
            let http = response as! HTTPURLResponse
            let fields = Dictionary(uniqueKeysWithValues: http.allHeaderFields.map { ("\($0.key)".lowercased(), "\($0.value)") })
            return (http.statusCode, fields, Array(data))
        }

        /// Many connections at once: URLSession's default of 6 a host would hold the rest back.
        static let session: URLSession = {
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpMaximumConnectionsPerHost = 64
            return URLSession(configuration: configuration)
        }()

        func get(_ path: String) async throws -> (status: Int, json: Any?) {
            let answer = try await request("GET", path)
            return (answer.status, try? JSONSerialization.jsonObject(with: Data(answer.body)))
        }

        func post(_ path: String, json: Any) async throws -> (status: Int, json: [String: Any]) {
            let answer = try await request("POST", path, body: Array(try JSONSerialization.data(withJSONObject: json)))
            return (answer.status, (try? JSONSerialization.jsonObject(with: Data(answer.body))) as? [String: Any] ?? [:])
        }
    }

    static func inferRequest(_ values: [Float], samples: Int, name: String = "data", datatype: String = "FP32", shape: [Int]? = nil) -> [String: Any] {
        ["inputs": [["name": name, "shape": shape ?? [samples, 1, 8, 8], "datatype": datatype, "data": values.map(Double.init)]]]
    }

    /// The message of a v2 error body.
    static func error(_ json: Any?) -> String { (json as? [String: Any])?["error"] as? String ?? "" }

    static func pictures(_ samples: Int) -> [Float] { (0..<(samples * 64)).map { Float(($0 * 37) % 256) } }

    /// What version 2's net computes for `samples` pictures, run one at a time at batch 4.
    static func expected(_ reference: Net, _ values: [Float]) throws -> [Float] {
        var probabilities: [Float] = []
        for start in stride(from: 0, to: values.count, by: 64) {
            try reference.forward(replacing: ["data": Array(values[start..<(start + 64)]) + [Float](repeating: 0, count: 3 * 64)])
            probabilities += reference.blobs["prob"]!.dataArray.prefix(3)
        }
        return probabilities
    }

    @Test func metadataHealthAndTheRepositoryIndexDescribeEveryModel() async throws {
        let (folder, _) = try Self.repository()
        try await Self.serving(folder) { client in
            #expect(try await client.get("/v2/health/live").status == 200)
            // A broken model makes the server not ready (as Triton's strict readiness), and
            // the error names it.
            let ready = try await client.get("/v2/health/ready")
            #expect(ready.status == 503 && Self.error(ready.json).contains("'broken' version 1"), "\(Self.error(ready.json))")

            let server = try await client.get("/v2")
            #expect((server.json as? [String: Any])?["name"] as? String == "swiftcaffe")

            let metadata = try await client.get("/v2/models/tiny")
            let model = try #require(metadata.json as? [String: Any])
            #expect(metadata.status == 200 && model["versions"] as? [String] == ["1", "2"])
            let inputs = try #require(model["inputs"] as? [[String: Any]])
            #expect(inputs.count == 1 && inputs[0]["name"] as? String == "data" && inputs[0]["shape"] as? [Int] == [-1, 1, 8, 8] && inputs[0]["datatype"] as? String == "FP32")
            let outputs = try #require(model["outputs"] as? [[String: Any]])
            #expect(outputs.count == 1 && outputs[0]["name"] as? String == "prob" && outputs[0]["shape"] as? [Int] == [-1, 3])

            #expect(try await client.get("/v2/models/tiny/ready").status == 200)
            #expect(try await client.get("/v2/models/tiny/versions/1/ready").status == 200)
            let config = try #require(try await client.get("/v2/models/tiny/versions/2/config").json as? [String: Any])
            #expect(config["max_batch_size"] as? Int == 32 && config["labels"] as? [String] == ["cat", "dog", "bird"])

            let broken = try await client.get("/v2/models/broken")
            #expect(broken.status == 503 && Self.error(broken.json).contains("net.yaml:3:1"))
            #expect(try await client.get("/v2/models/broken/ready").status == 503)

            let index = try await client.request("POST", "/v2/repository/index")
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(index.body)) as? [[String: Any]])
            #expect(entries.map { "\($0["name"]!)/\($0["version"]!)/\($0["state"]!)" } == ["broken/1/UNAVAILABLE", "tiny/1/READY", "tiny/2/READY"])
            #expect((entries[0]["reason"] as? String)?.contains("YAML syntax error") == true)

            let unknown = try await client.get("/v2/models/nope")
            #expect(unknown.status == 404 && Self.error(unknown.json).contains("holds broken, tiny"))
            let version = try await client.get("/v2/models/tiny/versions/7")
            #expect(version.status == 404 && Self.error(version.json).contains("its versions are 1, 2"))
            let path = try await client.get("/v3/anything")
            #expect(path.status == 404 && Self.error(path.json).contains("no endpoint GET /v3/anything"))
        }
    }

    @Test func inferAnswersWhatTheNetComputesInJSONBinaryAndClassification() async throws {
        let (folder, reference) = try Self.repository()
        try await Self.serving(folder) { client in
            let values = Self.pictures(5)  // 5 samples: the plan for 8, three rows padded
            let expected = try Self.expected(reference, values)
            var request = Self.inferRequest(values, samples: 5)
            request["id"] = "r-1"
            let answer = try await client.post("/v2/models/tiny/infer", json: request)
            #expect(answer.status == 200 && answer.json["id"] as? String == "r-1" && answer.json["model_version"] as? String == "2")
            let output = try #require((answer.json["outputs"] as? [[String: Any]])?.first)
            #expect(output["name"] as? String == "prob" && output["shape"] as? [Int] == [5, 3] && output["datatype"] as? String == "FP32")
            let got = try #require(output["data"] as? [Double]).map(Float.init)
            // Batches of 8 and of 4 sum in other orders: agreement to float rounding.
            #expect(zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-6 })

            // Version 1 has other weights: other answers.
            let first = try await client.post("/v2/models/tiny/versions/1/infer", json: request)
            let firstValues = try #require(((first.json["outputs"] as? [[String: Any]])?.first?["data"] as? [Double]))
            #expect(first.status == 200 && firstValues.map(Float.init) != got)

            // The binary tensor data extension: raw FP32 after the JSON, and binary outputs back.
            let header = Array(try JSONSerialization.data(withJSONObject: [
                "inputs": [["name": "data", "shape": [5, 1, 8, 8], "datatype": "FP32", "parameters": ["binary_data_size": values.count * 4]]],
                "parameters": ["binary_data_output": true],
            ] as [String: Any]))
            var body = header
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { body += $0 } }
            let binary = try await client.request("POST", "/v2/models/tiny/infer", body: body, headers: ["Inference-Header-Content-Length": "\(header.count)"])
            let jsonLength = try #require(binary.headers["inference-header-content-length"].flatMap { Int($0) })
            let described = try #require(try JSONSerialization.jsonObject(with: Data(binary.body.prefix(jsonLength))) as? [String: Any])
            let size = try #require(((described["outputs"] as? [[String: Any]])?.first?["parameters"] as? [String: Any])?["binary_data_size"] as? Int)
            #expect(binary.status == 200 && size == 15 * 4 && binary.body.count == jsonLength + size)
            let raw = Array(binary.body[jsonLength...])
            let decoded = (0..<15).map { index in Float(bitPattern: raw[(index * 4)..<(index * 4 + 4)].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }) }
            #expect(decoded == got)

            // Triton's classification extension: the top 2 classes as "score:index:label".
            request["outputs"] = [["name": "prob", "parameters": ["classification": 2]]]
            let classes = try await client.post("/v2/models/tiny/infer", json: request)
            let strings = try #require(((classes.json["outputs"] as? [[String: Any]])?.first?["data"] as? [String]))
            #expect(strings.count == 10)
            let row = Array(got[0..<3]), best = row.indices.max { row[$0] < row[$1] }!
            #expect(strings[0] == "\(row[best]):\(best):\(["cat", "dog", "bird"][best])")

            // UINT8 pictures are taken as their values.
            let bytes = try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(values, samples: 5, datatype: "UINT8"))
            #expect(((bytes.json["outputs"] as? [[String: Any]])?.first?["data"] as? [Double])?.map(Float.init) == got)
        }
    }

    @Test func classifyTakesAPictureAndAnswersAsTheClassifyCommand() async throws {
        let (folder, _) = try Self.repository()
        let pixels = (0..<64).map { UInt8(($0 * 53 + 7) % 256) }
        let picture = folder + "/picture.png"
        try RasterImage(width: 8, height: 8, channels: 1, pixels: pixels).write(to: picture)
        let expected = try Classifier(net: folder + "/tiny/2/tiny.yaml", weights: folder + "/tiny/2/w.safetensors", labels: nil).classify(path: picture, top: 3)
        try await Self.serving(folder) { client in
            let answer = try await client.request("POST", "/v2/models/tiny/classify?top=3", body: Array(try Data(contentsOf: URL(fileURLWithPath: picture))))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
            let classes = try #require(json["classes"] as? [[String: Any]])
            #expect(answer.status == 200 && classes.map { $0["index"] as? Int } == expected.map(\.label))
            #expect(zip(classes, expected).allSatisfy { abs(Float($0["probability"] as! Double) - $1.probability) <= 1e-6 })
            #expect(classes.map { $0["label"] as? String } == expected.map { ["cat", "dog", "bird"][$0.label] })

            let notAPicture = try await client.request("POST", "/v2/models/tiny/classify", body: Array("hello".utf8))
            #expect(notAPicture.status == 400 && String(decoding: notAPicture.body, as: UTF8.self).contains("not a picture"))
        }
    }

    @Test func concurrentRequestsShareOneForward() async throws {
        let (folder, reference) = try Self.repository()
        // A long delay, so that the 8 requests surely meet in one batch.
        try await Self.serving(folder, policy: BatchingPolicy(maxBatch: 8, maxDelay: .milliseconds(400))) { client in
            let values = Self.pictures(8)
            let expected = try Self.expected(reference, values)
            let answers = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
                for sample in 0..<8 {
                    group.addTask {
                        let answer = try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(Array(values[(sample * 64)..<((sample + 1) * 64)]), samples: 1))
                        let data = (answer.json["outputs"] as? [[String: Any]])?.first?["data"] as? [Double] ?? []
                        return (sample, data.map(Float.init))
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for sample in 0..<8 {
                // Each request gets its own rows back.
                #expect(zip(answers[sample] ?? [], expected[(sample * 3)..<((sample + 1) * 3)]).allSatisfy { abs($0 - $1) <= 1e-6 } && answers[sample]?.count == 3)
            }
            let metrics = String(decoding: try await client.request("GET", "/metrics").body, as: UTF8.self)
            let batches = Self.metric(metrics, "swiftcaffe_batch_size_samples_count", model: "tiny")
            let samples = Self.metric(metrics, "swiftcaffe_batch_size_samples_sum", model: "tiny")
            #expect(samples == 8 && batches == 1, "8 requests ran in \(batches ?? -1) forwards")
            #expect(Self.metric(metrics, "swiftcaffe_inference_requests_total", model: "tiny") == 8)
            #expect(metrics.contains("swiftcaffe_request_duration_seconds_bucket"))
        }
        // 6 single-sample requests: a forward of 4 (a planned size, no padding), then one of 2.
        try await Self.serving(folder, policy: BatchingPolicy(maxBatch: 8, maxDelay: .milliseconds(400))) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 { group.addTask { _ = try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(Self.pictures(1), samples: 1)) } }
                try await group.waitForAll()
            }
            let metrics = String(decoding: try await client.request("GET", "/metrics").body, as: UTF8.self)
            #expect(Self.metric(metrics, "swiftcaffe_batch_size_samples_count", model: "tiny") == 2)
            #expect(Self.metric(metrics, "swiftcaffe_batch_size_samples_sum", model: "tiny") == 6)
        }
        // With batching off, each request runs alone.
        try await Self.serving(folder, policy: BatchingPolicy(maxBatch: 8, maxDelay: .milliseconds(400), enabled: false)) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { _ = try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(Self.pictures(1), samples: 1)) } }
                try await group.waitForAll()
            }
            let metrics = String(decoding: try await client.request("GET", "/metrics").body, as: UTF8.self)
            #expect(Self.metric(metrics, "swiftcaffe_batch_size_samples_count", model: "tiny") == 4)
        }
    }

    /// A net planned for one sample only (a Reshape to fixed sizes) runs one sample a forward,
    /// however many requests arrive together, and answers each.
    @Test func aNetOfFixedShapesRunsOneSampleAForward() async throws {
        let (folder, _) = try Self.repository()
        let fixed = Self.net.replacingOccurrences(of: "shape: [4, 1, 8, 8], scale: 0.00390625}", with: "shape: [1, 1, 8, 8]}\n  - {name: flat, type: Reshape, bottom: data, top: flat, shape: [1, 64]}")
            .replacingOccurrences(of: "bottom: data, top: ip", with: "bottom: flat, top: ip")
        try fixed.write(toFile: folder + "/tiny/2/tiny.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: folder + "/tiny/2/w.safetensors")
        try Net(spec: try NetSpec.load(path: folder + "/tiny/2/tiny.yaml"), phase: .test).saveWeights(to: folder + "/tiny/2/w.safetensors")
        try await Self.serving(folder, policy: BatchingPolicy(maxBatch: 8, maxDelay: .milliseconds(200))) { client in
            let config = try #require(try await client.get("/v2/models/tiny/config").json as? [String: Any])
            #expect(config["max_batch_size"] as? Int == 1)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 { group.addTask { try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(Self.pictures(2), samples: 2)).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == [200, 200, 200])
            let metrics = String(decoding: try await client.request("GET", "/metrics").body, as: UTF8.self)
            #expect(Self.metric(metrics, "swiftcaffe_batch_size_samples_count", model: "tiny") == 3)
        }
    }

    /// The value of a series of model `tiny` version 2 in Prometheus's text.
    static func metric(_ text: String, _ name: String, model: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + "{") && $0.contains("model=\"\(model)\"") && $0.contains("version=\"2\"") }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    @Test func badRequestsGetTheirStatusAndAnErrorNamingTheField() async throws {
        let (folder, _) = try Self.repository()
        try await Self.serving(folder, maxBodyBytes: 64 << 10) { client in
            func expectError(_ answer: (status: Int, json: [String: Any]), _ status: Int, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
                let message = answer.json["error"] as? String ?? ""
                #expect(answer.status == status && message.contains(text), "\(answer.status): \(message)", sourceLocation: sourceLocation)
            }
            let one = Self.pictures(1)
            expectError(try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(Array(one.prefix(56)), samples: 1, shape: [1, 1, 8, 7])), 400, "inputs[0].shape [1, 1, 8, 7] does not fit 'data', which takes N×1×8×8")
            expectError(try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(one, samples: 1, name: "label")), 400, "inputs[0].name 'label' is not an input of model 'tiny'; its inputs are data")
            expectError(try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(one, samples: 1, datatype: "BYTES")), 400, "inputs[0].datatype is 'BYTES'")
            expectError(try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(Array(one.dropLast()), samples: 1)), 400, "inputs[0].data holds 63 values, but shape [1, 1, 8, 8] needs 64")
            expectError(try await client.post("/v2/models/tiny/infer", json: ["inputs": []]), 400, "'inputs' must be a non-empty list")
            var asking = Self.inferRequest(one, samples: 1)
            asking["outputs"] = [["name": "ip"]]
            expectError(try await client.post("/v2/models/tiny/infer", json: asking), 400, "outputs[0].name 'ip' is not an output of model 'tiny'")
            expectError(try await client.post("/v2/models/nope/infer", json: Self.inferRequest(one, samples: 1)), 404, "no model 'nope'")
            expectError(try await client.post("/v2/models/broken/infer", json: Self.inferRequest(one, samples: 1)), 503, "did not load")

            let garbage = try await client.request("POST", "/v2/models/tiny/infer", body: Array("{\"inputs\": [".utf8))
            #expect(garbage.status == 400 && String(decoding: garbage.body, as: UTF8.self).contains("not valid JSON"))
            // A binary NaN, which JSON cannot carry.
            let header = Array(try JSONSerialization.data(withJSONObject: ["inputs": [["name": "data", "shape": [1, 1, 8, 8], "datatype": "FP32", "parameters": ["binary_data_size": 256]]]]))
            var nan = header
            for index in 0..<64 { withUnsafeBytes(of: (index == 5 ? Float.nan : 0).bitPattern.littleEndian) { nan += $0 } }
            let notANumber = try await client.request("POST", "/v2/models/tiny/infer", body: nan, headers: ["Inference-Header-Content-Length": "\(header.count)"])
            #expect(notANumber.status == 400 && String(decoding: notANumber.body, as: UTF8.self).contains("inputs[0].data[5] is nan"))
            let short = try await client.request("POST", "/v2/models/tiny/infer", body: Array(nan.dropLast(4)), headers: ["Inference-Header-Content-Length": "\(header.count)"])
            #expect(short.status == 400 && String(decoding: short.body, as: UTF8.self).contains("only 252 are left"))
            let large = try await client.request("POST", "/v2/models/tiny/infer", body: [UInt8](repeating: 32, count: 65 << 10))
            #expect(large.status == 413 && String(decoding: large.body, as: UTF8.self).contains("--max-body-mb"), "\(large.status) \(String(decoding: large.body, as: UTF8.self))")

            // The server still answers after all of that.
            #expect(try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(one, samples: 1)).status == 200)
            let metrics = String(decoding: try await client.request("GET", "/metrics").body, as: UTF8.self)
            #expect(metrics.contains("swiftcaffe_responses_total{model=\"tiny\",version=\"2\",code=\"400\"}"))
        }
    }

    @Test func aFullQueueAnswers503AndALateRequest504() async throws {
        let (folder, _) = try Self.repository()
        // One request may wait; it waits a second for company, so the next finds the queue full.
        try await Self.serving(folder, policy: BatchingPolicy(maxBatch: 8, maxDelay: .milliseconds(1000), queueLimit: 1)) { client in
            async let first = client.post("/v2/models/tiny/infer", json: Self.inferRequest(Self.pictures(1), samples: 1))
            try await Task.sleep(for: .milliseconds(300))
            let second = try await client.request("POST", "/v2/models/tiny/infer", body: Array(try JSONSerialization.data(withJSONObject: Self.inferRequest(Self.pictures(1), samples: 1))))
            #expect(second.status == 503 && second.headers["retry-after"] == "1" && String(decoding: second.body, as: UTF8.self).contains("--max-queue"))
            #expect(try await first.status == 200)
        }
        // A request that waits longer than the timeout for its batch to start.
        try await Self.serving(folder, policy: BatchingPolicy(maxBatch: 8, maxDelay: .milliseconds(300), timeout: .milliseconds(50))) { client in
            let late = try await client.post("/v2/models/tiny/infer", json: Self.inferRequest(Self.pictures(1), samples: 1))
            #expect(late.status == 504 && (late.json["error"] as? String)?.contains("--timeout-ms") == true)
        }
    }

    @Test func shutdownAnswersTheRequestsInFlightAndAPortInUseIsAnError() async throws {
        let (folder, reference) = try Self.repository()
        let server = try ModelServer(repository: folder, options: ServerOptions(port: 0, policy: BatchingPolicy(maxBatch: 8, maxDelay: .milliseconds(500)), threads: 1))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let running = Task { try await server.run { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let client = Client(port: port)
        // A request that waits 500 ms for its batch; the shutdown starts while it waits.
        async let inFlight = client.post("/v2/models/tiny/infer", json: Self.inferRequest(Self.pictures(1), samples: 1))
        try await Task.sleep(for: .milliseconds(150))

        // Meanwhile, a second server on the same port is refused with a clear error.
        let second = try ModelServer(repository: folder, options: ServerOptions(port: port, threads: 1))
        await #expect { try await second.run() } throws: { "\($0)".contains("port \(port) on 127.0.0.1 is in use") }

        await server.shutdown()
        let answer = try await inFlight
        let data = try #require(((answer.json["outputs"] as? [[String: Any]])?.first?["data"] as? [Double]))
        let expected = try Self.expected(reference, Self.pictures(1))
        #expect(answer.status == 200 && zip(data.map(Float.init), expected).allSatisfy { abs($0 - $1) <= 1e-6 })
        try await running.value  // run returns once drained
    }

    /// Request bodies cut, flipped and spliced at random (a fixed seed): each is taken or
    /// refused with a 400 naming what is wrong, never a crash or another kind of error.
    @Test func mutatedRequestsAreTakenOrRefusedNeverCrash() throws {
        let (folder, _) = try Self.repository()
        let net = try ModelRepository.load(folder: folder + "/tiny/2", modelFolder: folder + "/tiny", maxBatch: 8)
        let json = Array(try JSONSerialization.data(withJSONObject: Self.inferRequest(Self.pictures(2), samples: 2)))
        let header = Array(try JSONSerialization.data(withJSONObject: [
            "inputs": [["name": "data", "shape": [2, 1, 8, 8], "datatype": "FP32", "parameters": ["binary_data_size": 512]]],
            "outputs": [["name": "prob", "parameters": ["classification": 2, "binary_data": true]]],
        ] as [String: Any]))
        let binary = header + [UInt8](repeating: 0x3f, count: 512)
        var random = RandomGenerator(seed: 31)
        var taken = 0, refused = 0
        for index in 0..<3000 {
            var body = index % 2 == 0 ? json : binary
            let headerLength: Int? = index % 2 == 0 ? nil : header.count
            for _ in 0..<(1 + Int(random.next() % 4)) where !body.isEmpty {
                let at = Int(random.next() % UInt64(body.count))
                switch random.next() % 4 {
                case 0: body[at] = UInt8(truncatingIfNeeded: random.next())
                case 1: body.removeSubrange(at..<min(body.count, at + Int(random.next() % 16) + 1))
                case 2: body.insert(contentsOf: Array("[{\"-1e40,".utf8).shuffled(using: &random).prefix(3), at: at)
                default: body = Array(body.prefix(at))
                }
            }
            do {
                let request = try InferenceRequest.decode(body, headerLength: headerLength)
                _ = try ModelServer.tensors(request.inputs, for: net, model: "tiny")
                _ = try ModelServer.outputs(request, for: net, model: "tiny")
                taken += 1
            } catch let error as ServeError {
                #expect(error.status == .badRequest && !error.message.isEmpty)
                refused += 1
            }
        }
        #expect(taken + refused == 3000 && refused > 1000)
    }

    @Test func aBadRepositoryOrConfigIsAnErrorAtItsLine() throws {
        let (folder, _) = try Self.repository()
        #expect { try ModelServer(repository: folder + "/missing", options: ServerOptions()) } throws: { "\($0)".contains("is not a folder") }
        let empty = try temporaryFolder()
        #expect { try ModelServer(repository: empty, options: ServerOptions()) } throws: { "\($0)".contains("holds no model folder") }

        try "labels: [cat, dog]\nmax_batch: 4\n".write(toFile: folder + "/tiny/1/config.yaml", atomically: true, encoding: .utf8)
        try "max_bach: 4\n".write(toFile: folder + "/tiny/config.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: folder + "/tiny/2/w.safetensors", toPath: folder + "/tiny/2/w2.safetensors")
        let server = try ModelServer(repository: folder, options: ServerOptions(threads: 1))
        let reasons = Dictionary(uniqueKeysWithValues: server.versions.map { ("\($0.model)/\($0.version)", $0.reason) })
        #expect(reasons["tiny/1"]?.contains("tiny/config.yaml:1:1: error: unknown key 'max_bach'") == true)
        #expect(reasons["tiny/2"]?.contains("holds 2 weights files") == true)
        try FileManager.default.removeItem(atPath: folder + "/tiny/config.yaml")
        let again = try ModelServer(repository: folder, options: ServerOptions(threads: 1))
        #expect(again.versions.first { $0.model == "tiny" && $0.version == 1 }?.reason.contains("the config has 2 labels, but 'prob' holds 3 scores") == true)
    }
}

/// `swiftcaffe serve` starts the swiftcaffe-serve program beside it with every argument.
@Suite struct ServeLauncherTests {
    /// Runs `binary` with `arguments`; its exit status and everything it printed.
    static func run(_ binary: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func serveHandsEveryArgumentToTheServerProgram() throws {
        let help = try Self.run(FuzzTests.binary, ["serve", "--help"])
        #expect(help.status == 0 && help.output.contains("USAGE: swiftcaffe serve <repository>") && help.output.contains("--max-delay-ms"))
        let missing = try Self.run(FuzzTests.binary, ["serve", "/no/such/models", "--port", "0"])
        #expect(missing.status == 1 && missing.output.contains("the model repository '/no/such/models' is not a folder"), "\(missing)")

        // A swiftcaffe with no server beside it says how to build one.
        let folder = try temporaryFolder()
        try FileManager.default.copyItem(atPath: FuzzTests.binary, toPath: folder + "/swiftcaffe")
        let alone = try Self.run(folder + "/swiftcaffe", ["serve", "models"])
        #expect(alone.status != 0 && alone.output.contains("--product swiftcaffe-serve"), "\(alone)")
    }
}

import ArgumentParser
import Foundation
import SwiftCaffe
import SwiftCaffeCLI
import SwiftCaffeServe

/// `swiftcaffe serve` (this program, which `swiftcaffe serve` starts): a model repository behind
/// KServe's v2 inference protocol (`ModelServer`).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftcaffe serve",
        abstract: "Serve the trained nets of a model repository over HTTP (KServe's v2 protocol, as Triton's clients speak it).",
        discussion: """
        MODEL_REPOSITORY holds one folder per model and, in it, one folder per
        version (1/, 2/, ...), each with a net file (YAML, prototxt or ONNX) and
        its weights. A net file as it ships, data layers and all, serves as it
        is: its test phase's data layers become the inputs and its class
        probabilities the output. An optional config.yaml sets labels, picture
        preparation and the largest batch (docs/serving.md).

        Concurrent requests are gathered into one forward of up to --max-batch
        samples: those that arrived while the last forward ran, after waiting
        up to --max-delay-ms for more. SIGTERM or Ctrl-C stops taking
        connections, answers the requests already in, and exits 0.

        Example:
          mkdir -p models/lenet/1
          cp nets/lenet.yaml runs/lenet_iter_938.safetensors models/lenet/1/
          swiftcaffe serve models --port 8000
          curl -s localhost:8000/v2/models/lenet
          curl -s --data-binary @shoe.png \\
              'localhost:8000/v2/models/lenet/classify?top=3'
        """
    )

    @Argument(help: "The model repository: MODEL/VERSION/ folders, each with a net file and its weights.")
    var repository: String

    @Option(help: "The address to listen on (0.0.0.0 for every interface).")
    var host = "127.0.0.1"

    @Option(help: "The port (0: any free port, printed once listening).")
    var port = 8000

    @Option(name: .customLong("max-batch"), help: "The most samples one forward takes.")
    var maxBatch = 32

    @Option(name: .customLong("max-delay-ms"), help: "How long a request may wait for others to join its batch (0: batch what arrived during the last forward).")
    var maxDelay = 0.0

    @Flag(name: .customLong("no-batching"), help: "Run each request in a forward of its own.")
    var noBatching = false

    @Option(name: .customLong("max-queue"), help: "Requests that may wait per model; past it, 503 with Retry-After.")
    var maxQueue = 256

    @Option(name: .customLong("timeout-ms"), help: "How long a request may wait for its batch to start; past it, 504.")
    var timeout = 30_000.0

    @Option(name: .customLong("max-body-mb"), help: "The largest request body taken; past it, 413.")
    var maxBody = 64

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard (1...4096).contains(maxBatch) else { throw ValidationError("--max-batch must be between 1 and 4096") }
        guard maxDelay.isFinite, (0...60_000).contains(maxDelay) else { throw ValidationError("--max-delay-ms must be between 0 and 60000") }
        guard (1...1_000_000).contains(maxQueue) else { throw ValidationError("--max-queue must be between 1 and 1000000") }
        guard timeout.isFinite, (1...3_600_000).contains(timeout) else { throw ValidationError("--timeout-ms must be between 1 and 3600000") }
        guard (1...4096).contains(maxBody) else { throw ValidationError("--max-body-mb must be between 1 and 4096") }
    }

    func run() throws {
        try runtime.run {
            let policy = BatchingPolicy(maxBatch: maxBatch, maxDelay: .microseconds(Int64(maxDelay * 1000)), enabled: !noBatching,
                                        queueLimit: maxQueue, timeout: .microseconds(Int64(timeout * 1000)))
            let options = ServerOptions(host: host, port: port, policy: policy, maxBodyBytes: maxBody << 20, threads: Parallel.threads)
            let server = try ModelServer(repository: repository, options: options) { printLine($0) }
            let models = Set(server.versions.map(\.model)).count, ready = server.versions.filter(\.ready).count
            let host = self.host
            try server.runBlocking { port in
                printLine("serving \(models) model\(models == 1 ? "" : "s") (\(ready) of \(server.versions.count) versions ready) at http://\(host):\(port)/v2")
            }
            printLine("stopped: every request taken was answered")
        }
    }
}

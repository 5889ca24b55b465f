import Foundation
import SwiftCaffe

/// How requests are gathered into batches (`serve --max-batch --max-delay-ms --max-queue`).
public struct BatchingPolicy: Sendable {
    /// The most samples one forward takes (a model's config may lower it).
    public var maxBatch: Int
    /// How long the oldest waiting request may wait for others to join its batch. 0 (the
    /// default, as Triton's) still batches under load: the requests that arrive while a
    /// forward runs form the next batch.
    public var maxDelay: Duration
    /// Whether concurrent requests share a forward at all; when false each runs alone.
    public var enabled: Bool
    /// The most requests waiting per model; one more is refused with 503.
    public var queueLimit: Int
    /// How long a request may wait for its batch to start; past it, 504.
    public var timeout: Duration

    public init(maxBatch: Int = 32, maxDelay: Duration = .zero, enabled: Bool = true,
                queueLimit: Int = 256, timeout: Duration = .seconds(30)) {
        self.maxBatch = maxBatch
        self.maxDelay = maxDelay
        self.enabled = enabled
        self.queueLimit = queueLimit
        self.timeout = timeout
    }
}

/// The dynamic batcher of one model version: requests wait here, one worker thread gathers
/// them into batches, runs each batch with one forward and hands every request its rows.
///
/// The worker is a thread of its own, not a task: a forward takes milliseconds of CPU, which
/// would hold one of Swift concurrency's few threads (two here) away from the HTTP server.
///
/// A batch starts when its requests hold `maxBatch` samples, or when the oldest has waited
/// `maxDelay` (0 by default: at once), whichever comes first; with batching off, each
/// request is a batch. Requests
/// join a batch whole and in arrival order; one with more samples than `maxBatch` runs alone,
/// in several forwards.
final class InferenceQueue: @unchecked Sendable {
    /// What a request gets back: the outputs asked for, by name, for its samples.
    typealias Outputs = [String: Safetensors.Tensor]

    private struct Job {
        var inputs: [String: Safetensors.Tensor]
        var samples: Int
        var wanted: [String]
        var arrived: ContinuousClock.Instant
        var finish: @Sendable (Result<Outputs, any Error>) -> Void
    }

    let net: ServedNet
    let policy: BatchingPolicy
    let metrics: ModelMetrics
    private let condition = NSCondition()
    private var waiting: [Job] = []
    private var stopping = false
    private var worker: Thread?
    private let clock = ContinuousClock()

    /// `threads`: the kernels' threads for each forward (`serve --threads`).
    init(net: ServedNet, policy: BatchingPolicy, threads: Int, metrics: ModelMetrics, name: String) {
        self.net = net
        var policy = policy
        policy.maxBatch = net.maxBatch
        self.policy = policy
        self.metrics = metrics
        // The thread holds the queue until `stop` lets it end.
        let thread = Thread { Parallel.withThreads(threads) { self.work() } }
        thread.name = "swiftcaffe-serve \(name)"
        thread.stackSize = 8 << 20
        worker = thread
        thread.start()
    }

    /// Runs `inputs` (each holding `samples` samples on its first axis) in the next batch.
    /// Throws `ServeError` 503 when the queue is full and 504 when the batch did not start
    /// within the timeout.
    func submit(_ inputs: [String: Safetensors.Tensor], samples: Int, wanted: [String]) async throws -> Outputs {
        try await withCheckedThrowingContinuation { continuation in
            let job = Job(inputs: inputs, samples: samples, wanted: wanted, arrived: clock.now) { continuation.resume(with: $0) }
            condition.lock()
            defer { condition.unlock() }
            guard !stopping else {
                continuation.resume(throwing: ServeError(.serviceUnavailable, "the server is shutting down", retryAfter: 1))
                return
            }
            guard waiting.count < policy.queueLimit else {
                metrics.rejected.increment()
                continuation.resume(throwing: ServeError(.serviceUnavailable, "the queue of this model is full (\(policy.queueLimit) requests waiting, --max-queue)", retryAfter: 1))
                return
            }
            waiting.append(job)
            metrics.queueLength.set(Double(waiting.count))
            condition.signal()
        }
    }

    /// Lets the waiting requests run, then ends the worker (graceful shutdown).
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func work() {
        condition.lock()
        while true {
            while waiting.isEmpty && !stopping { condition.wait() }
            if waiting.isEmpty { break }
            if policy.enabled {
                // Wait for the batch to fill, or for the oldest request's delay to run out.
                let due = waiting[0].arrived + policy.maxDelay
                while !stopping && waiting.reduce(0, { $0 + $1.samples }) < policy.maxBatch && clock.now < due {
                    _ = condition.wait(until: Date().addingTimeInterval(Self.seconds(due - clock.now)))
                }
            }
            var batch = [waiting.removeFirst()]
            var samples = batch[0].samples
            while policy.enabled, let next = waiting.first, samples + next.samples <= policy.maxBatch {
                batch.append(waiting.removeFirst())
                samples += next.samples
            }
            // A batch runs on the plan of the next batch size class up, padded with zeros:
            // 17 samples would compute 32. Rather, the newest requests past the largest class
            // that the batch fills wait for the next forward (which starts right after).
            if let fills = net.batchClasses.last(where: { $0 <= samples }) {
                while batch.count > 1 && samples > fills {
                    let last = batch.removeLast()
                    samples -= last.samples
                    waiting.insert(last, at: 0)
                }
            }
            metrics.queueLength.set(Double(waiting.count))
            condition.unlock()
            run(batch)
            condition.lock()
        }
        condition.unlock()
    }

    /// One forward for `batch` (past its timeout, a request is answered 504 instead).
    private func run(_ batch: [Job]) {
        let now = clock.now
        let (late, jobs) = (batch.filter { now - $0.arrived > policy.timeout }, batch.filter { now - $0.arrived <= policy.timeout })
        for job in late {
            metrics.timedOut.increment()
            job.finish(.failure(ServeError(.gatewayTimeout, "the request waited longer than \(Self.seconds(policy.timeout)) s (--timeout-ms) for its batch to start")))
        }
        guard !jobs.isEmpty else { return }
        let samples = jobs.reduce(0) { $0 + $1.samples }
        let started = clock.now
        let result = Result { () throws -> Outputs in
            let joined = jobs.count == 1 ? jobs[0].inputs : Dictionary(uniqueKeysWithValues: net.inputs.map { input in
                (input.name, Self.joining(jobs.map { $0.inputs[input.name]! }))
            })
            let wanted = Array(Set(jobs.flatMap(\.wanted)))
            return try net.run(joined, samples: samples, wanted: wanted)
        }
        metrics.batchSize.record(Double(samples))
        metrics.computeDuration.record(clock.now - started)
        switch result {
        case .failure(let error):
            for job in jobs { job.finish(.failure(error)) }
        case .success(let outputs):
            var first = 0
            for job in jobs {
                var mine: Outputs = [:]
                for name in job.wanted {
                    guard let tensor = outputs[name] else { continue }
                    mine[name] = jobs.count == 1 ? tensor : Self.rows(first..<(first + job.samples), of: tensor)
                }
                first += job.samples
                job.finish(.success(mine))
            }
        }
    }

    /// Tensors of the same sample shape, one after another along the first axis.
    static func joining(_ tensors: [Safetensors.Tensor]) -> Safetensors.Tensor {
        var shape = tensors[0].shape
        shape[0] = tensors.reduce(0) { $0 + $1.shape[0] }
        var values: [Float] = []
        values.reserveCapacity(shape.reduce(1, *))
        for tensor in tensors { values += tensor.values }
        return Safetensors.Tensor(shape: shape, values: values)
    }

    /// Samples `range` of a tensor that holds its samples along the first axis.
    static func rows(_ range: Range<Int>, of tensor: Safetensors.Tensor) -> Safetensors.Tensor {
        let size = tensor.shape.dropFirst().reduce(1, *)
        var shape = tensor.shape
        shape[0] = range.count
        return Safetensors.Tensor(shape: shape, values: Array(tensor.values[(range.lowerBound * size)..<(range.upperBound * size)]))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}

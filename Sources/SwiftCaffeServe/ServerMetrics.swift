import Prometheus

/// The server's metrics, served at `/metrics` in Prometheus's text format. Every series of a
/// model carries `model` and `version` labels.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    /// Latency buckets from 1 ms to 10 s.
    static let latencyBuckets: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000].map { .milliseconds($0) }
    /// Batch-size buckets: the batch size classes a server plans for.
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]

    func model(_ name: String, version: Int) -> ModelMetrics {
        ModelMetrics(registry: registry, labels: [("model", name), ("version", "\(version)")])
    }

    /// Requests answered, by HTTP status class, for requests that named no model version
    /// (unknown models, health checks).
    func response(status: Int) {
        registry.makeCounter(descriptor: Self.responses, labels: [("model", ""), ("version", ""), ("code", "\(status)")]).increment()
    }

    static var responses: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "swiftcaffe", metricName: "responses", unitName: "total",
                                                helpText: "HTTP responses to inference requests, by status code")
    }

    func text() -> String { registry.emitToString() }
}

/// One model version's series.
struct ModelMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let labels: [(String, String)]
    let requests: Counter
    let samples: Counter
    let rejected: Counter
    let timedOut: Counter
    let queueLength: Gauge
    let batchSize: ValueHistogram
    let requestDuration: DurationHistogram
    let computeDuration: DurationHistogram

    init(registry: PrometheusCollectorRegistry, labels: [(String, String)]) {
        self.registry = registry
        self.labels = labels
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "swiftcaffe", metricName: metric, unitName: unit, helpText: help)
        }
        requests = registry.makeCounter(descriptor: name("inference_requests", "total", "Inference requests received (infer and classify)"), labels: labels)
        samples = registry.makeCounter(descriptor: name("inference_samples", "total", "Samples in the inference requests"), labels: labels)
        rejected = registry.makeCounter(descriptor: name("queue_rejections", "total", "Requests refused with 503 because the queue was full"), labels: labels)
        timedOut = registry.makeCounter(descriptor: name("queue_timeouts", "total", "Requests answered 504 because their batch did not start in time"), labels: labels)
        queueLength = registry.makeGauge(descriptor: name("queue_length", "requests", "Requests waiting for a batch"), labels: labels)
        batchSize = registry.makeValueHistogram(descriptor: name("batch_size", "samples", "Samples run by one forward"), labels: labels, buckets: ServerMetrics.batchBuckets)
        requestDuration = registry.makeDurationHistogram(descriptor: name("request_duration", "seconds", "Time from a request's arrival to its answer"), labels: labels, buckets: ServerMetrics.latencyBuckets)
        computeDuration = registry.makeDurationHistogram(descriptor: name("compute_duration", "seconds", "Time one batch's forward took"), labels: labels, buckets: ServerMetrics.latencyBuckets)
    }

    /// Counts one answered request by its status code.
    func response(status: Int) {
        registry.makeCounter(descriptor: ServerMetrics.responses, labels: labels + [("code", "\(status)")]).increment()
    }
}

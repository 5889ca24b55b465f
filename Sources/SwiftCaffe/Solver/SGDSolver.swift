/// Caffe's SGD update with momentum and L2 weight decay, per parameter:
///
///     g ← ∇ + weight_decay · decay_mult · w
///     v ← momentum · v + lr · lr_mult · g
///     w ← w − v
public final class SGDSolver {
    public let spec: SolverSpec
    public let parameters: [LearnableParameter]
    /// Momentum history, one buffer per parameter.
    public private(set) var history: [Blob]

    public init(spec: SolverSpec, parameters: [LearnableParameter]) {
        self.spec = spec
        self.parameters = parameters
        history = parameters.map { Blob(name: "\($0.name).history", shape: $0.blob.shape) }
    }

    /// Applies one update with learning rate `rate` to every parameter from its diff.
    public func update(rate: Float) {
        let momentum = spec.momentum
        for (parameter, history) in zip(parameters, history) where parameter.lrMult > 0 {
            let w = parameter.blob.data, g = parameter.blob.diff, v = history.data
            let decay = spec.weightDecay * parameter.decayMult
            let localRate = rate * parameter.lrMult
            Parallel.forChunks(of: parameter.blob.count, minimumPerChunk: 1 << 15) { _, range in
                for i in range {
                    v[i] = momentum * v[i] + localRate * (g[i] + decay * w[i])
                    w[i] -= v[i]
                }
            }
        }
    }
}

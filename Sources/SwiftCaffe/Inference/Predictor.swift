import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeSpec

/// A trained net as a function from tensors to a tensor, for Swift programs.
///
///     let model = try Predictor(net: "nets/iris_mlp.yaml", weights: "runs/iris_mlp_iter_400.safetensors")
///     let probabilities = try model(Safetensors.Tensor(shape: [2, 4], values: measurements))  // 2×3
///
/// The net is its deploy form (`DeployNet`): every data layer becomes an `Input` of the shape
/// it served, the losses and Accuracy go, and a softmax loss's scores get a `Softmax` named
/// `prob`. So a train/test net file works as it is, and so does a Caffe deploy prototxt. It is
/// built for inference (`NetPurpose.inference`) with the weights loaded once.
///
/// The output is the class probabilities the deploy form adds (`prob`) when the net ends in a
/// softmax loss, else the net's last output blob. Any number of samples may be given: they
/// run in batches of the Input's size along its batch axis (the first, or the second for
/// sequences served time steps first), the last one padded.
public final class Predictor {
    public let net: Net
    /// The inputs to give, by name, with the shape of one batch and the axis that holds its
    /// samples (0 for N×…; 1 for a recurrent net's T×N×… sequences).
    public let inputs: [(name: String, shape: [Int], batchAxis: Int)]
    /// The blob returned (the first of `outputs`).
    public let output: String
    /// The axis of the output that holds its samples.
    public let outputBatchAxis: Int
    /// Every blob `run` returns, with the axis of each that holds its samples.
    public let outputs: [(name: String, batchAxis: Int)]
    /// What the deploy form left out of the file (class names, augmentation), one sentence each.
    public let notes: [String]
    /// The data layer's class names, if it had `label_names`; else empty.
    public let classNames: [String]

    public convenience init(net path: String, weights: String?, state: NetState = NetState()) throws {
        try self.init(spec: try NetSpec.load(path: path, state: state), weights: weights)
    }

    /// `output`: a blob to return instead of the probabilities or last output (it is kept
    /// whole through forward).
    public convenience init(spec: NetSpec, weights: String?, output wanted: String? = nil) throws {
        try self.init(spec: spec, weights: weights, outputs: wanted.map { [$0] } ?? [])
    }

    /// `outputs`: the blobs `run` returns (kept whole through forward); none for the
    /// probabilities or the last output.
    public convenience init(spec: NetSpec, weights: String?, outputs wanted: [String]) throws {
        let names = try NetPlan(spec: spec, options: NetOptions(phase: .test)).dataSources.first?.labelNames ?? []
        try self.init(deploy: try DeployNet(spec), classNames: names, outputs: wanted, samples: nil, weights: .file(weights, spec.weightsFile != nil))
    }

    /// A deploy net the caller has edited (an Input's shape or picture keys, as the model
    /// server's config sets them); `classNames` as the data layer named them.
    public convenience init(deploy: DeployNet, classNames: [String], weights: String?, outputs wanted: [String]) throws {
        try self.init(deploy: deploy, classNames: classNames, outputs: wanted, samples: nil, weights: .file(weights, deploy.spec.weightsFile != nil))
    }

    /// Where a predictor's parameters come from.
    enum Weights {
        /// A weights file, or none; `named` when the net file names its own weights file.
        case file(String?, _ named: Bool)
        /// The parameter blobs of another predictor's net (another batch size of the same net).
        case sharedWith(Net)
    }

    private let deploy: DeployNet

    private init(deploy: DeployNet, classNames names: [String], outputs wanted: [String], samples: Int?, weights: Weights) throws {
        var spec = deploy.spec
        if let samples { spec = try deploy.holding(samples: samples) }
        var options = NetOptions(phase: .test, purpose: .inference, keeping: Set(wanted))
        if case .sharedWith(let other) = weights { options.sharingParametersWith = other }
        let net = try Net(spec: spec, options: options)
        self.net = net
        self.deploy = deploy
        if case .file(let weights, let named) = weights {
            if let weights {
                try net.loadWeights(from: weights)
            } else if !named, let first = net.parameters.first {
                throw SwiftCaffeError("the net has learnable parameters ('\(first.name)', ...) and no weights were given",
                                      hint: "pass the trained weights (.safetensors or .caffemodel)")
            }
        }
        inputs = net.layers.indices.filter { net.bottoms[$0].isEmpty }.flatMap { index in
            net.tops[index].map { ($0.name, $0.shape, deploy.inputBatchAxes[$0.name] ?? 0) }
        }
        guard !inputs.isEmpty, let last = net.outputNames.last else {
            throw SwiftCaffeError("the net has no inputs or no outputs to predict with")
        }
        if let scalar = inputs.first(where: { !$0.shape.indices.contains($0.batchAxis) }) {
            throw SwiftCaffeError("the input '\(scalar.name)' is \(scalar.shape) and has no axis for samples", hint: "give the Input a batch dimension")
        }
        for name in wanted where net.blobs[name] == nil {
            throw SwiftCaffeError("the deploy form of the net has no blob '\(name)'", hint: "its blobs: \(net.blobs.keys.sorted().prefix(20).joined(separator: ", "))")
        }
        let chosen = wanted.isEmpty ? [deploy.probabilities ?? last] : wanted
        output = chosen[0]
        let batches = Set(inputs.map { $0.shape[$0.batchAxis] })
        guard batches.count == 1 else {
            throw SwiftCaffeError("the inputs take batches of different sizes (\(inputs.map { "\($0.name): \($0.shape[$0.batchAxis])" }.joined(separator: ", ")))",
                                  hint: "give every Input the same number of samples along its batch axis")
        }
        let axes = try deploy.batchAxes()
        outputs = try chosen.map { name in
            guard let axis = axes[name] else {
                throw SwiftCaffeError("'\(name)' does not grow with the number of samples, so it cannot be given per sample",
                                      hint: "ask for a blob computed from the inputs (--blob)")
            }
            return (name, axis)
        }
        outputBatchAxis = outputs[0].batchAxis
        notes = deploy.notes
        classNames = names
    }

    /// The number of samples one forward takes.
    public var batchSize: Int { inputs[0].shape[inputs[0].batchAxis] }

    /// The same net planned for batches of `samples`, sharing this one's parameters (the model
    /// server plans one per batch size it runs). A net that cannot take other batch sizes
    /// (a Reshape to fixed sizes) is an error.
    public func resized(toBatch samples: Int) throws -> Predictor {
        guard samples != batchSize else { return self }
        return try Predictor(deploy: deploy, classNames: classNames, outputs: outputs.map(\.name), samples: samples, weights: .sharedWith(net))
    }

    /// Runs the net on a tensor for its only input.
    public func callAsFunction(_ input: Safetensors.Tensor) throws -> Safetensors.Tensor {
        guard inputs.count == 1 else {
            throw SwiftCaffeError("the net has \(inputs.count) inputs (\(inputs.map(\.name).joined(separator: ", "))); give a tensor for each by name")
        }
        return try self([inputs[0].name: input])
    }

    /// Runs the net on a tensor for each input: N samples each along the input's batch axis,
    /// the same N for all, every other axis as the input has it. Returns the output for the
    /// N samples, along the output's batch axis.
    public func callAsFunction(_ given: [String: Safetensors.Tensor]) throws -> Safetensors.Tensor {
        try run(given)[0].tensor
    }

    /// As calling the predictor, but every blob of `outputs`, in that order.
    public func run(_ given: [String: Safetensors.Tensor]) throws -> [(name: String, tensor: Safetensors.Tensor)] {
        var count: Int?
        for (name, shape, axis) in inputs {
            let expected = shape.enumerated().map { $0.offset == axis ? "N" : String($0.element) }.joined(separator: "×")
            guard let tensor = given[name] else { throw SwiftCaffeError("no tensor for the input '\(name)'", hint: "give one of shape \(expected)") }
            guard tensor.shape.count == shape.count, tensor.values.count == tensor.shape.reduce(1, *),
                  tensor.shape.indices.allSatisfy({ $0 == axis || tensor.shape[$0] == shape[$0] }) else {
                throw SwiftCaffeError("the tensor for '\(name)' has shape \(tensor.shape), but the net takes \(expected)")
            }
            guard count == nil || count == tensor.shape[axis] else { throw SwiftCaffeError("the inputs hold different numbers of samples") }
            count = tensor.shape[axis]
        }
        if let unknown = given.keys.first(where: { name in !inputs.contains { $0.name == name } }) {
            throw SwiftCaffeError("the net has no input '\(unknown)'", hint: "its inputs are \(inputs.map(\.name).joined(separator: ", "))")
        }
        let samples = count ?? 0, batch = inputs[0].shape[inputs[0].batchAxis]
        var chunks = [[(values: [Float], samples: Int)]](repeating: [], count: outputs.count)
        for start in stride(from: 0, to: samples, by: batch) {
            let range = start..<min(start + batch, samples)
            var feed: [String: [Float]] = [:]
            for (name, _, axis) in inputs {
                let tensor = given[name]!
                feed[name] = Self.samples(range, of: tensor.values, shape: tensor.shape, axis: axis, paddedTo: batch)
            }
            try net.forward(replacing: feed)
            for (index, (name, axis)) in outputs.enumerated() {
                let result = net.blobs[name]!
                let computed = Self.samples(0..<range.count, of: Array(UnsafeBufferPointer(start: result.data, count: result.count)),
                                            shape: result.shape, axis: axis, paddedTo: range.count)
                if computed.contains(where: { !$0.isFinite }) {
                    throw net.nonFiniteError(replacing: feed, during: "predicting")
                }
                chunks[index].append((computed, range.count))
            }
        }
        return outputs.enumerated().map { index, output in
            let blobShape = net.blobs[output.name]!.shape
            var shape = blobShape
            shape[output.batchAxis] = samples
            return (output.name, Safetensors.Tensor(shape: shape, values: Self.joining(chunks[index], shape: blobShape, axis: output.batchAxis)))
        }
    }

    /// Samples `range` of `values` (shaped `shape`, samples along `axis`), then zeros up to
    /// `count` samples: a batch cut from along any axis.
    static func samples(_ range: Range<Int>, of values: [Float], shape: [Int], axis: Int, paddedTo count: Int) -> [Float] {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        var batch: [Float] = []
        batch.reserveCapacity(outer * count * inner)
        for o in 0..<outer {
            let first = (o * shape[axis] + range.lowerBound) * inner
            batch += values[first..<(first + range.count * inner)]
            batch += repeatElement(0, count: (count - range.count) * inner)
        }
        return batch
    }

    /// The chunks (each `shape` with its own number of samples along `axis`) joined along `axis`.
    static func joining(_ chunks: [(values: [Float], samples: Int)], shape: [Int], axis: Int) -> [Float] {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        var joined: [Float] = []
        joined.reserveCapacity(chunks.reduce(0) { $0 + $1.values.count })
        for o in 0..<outer {
            for (values, samples) in chunks { joined += values[(o * samples * inner)..<((o + 1) * samples * inner)] }
        }
        return joined
    }
}

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
/// softmax loss, else the net's last output blob. Any number of samples
/// may be given: they run in batches of the Input's first dimension, the last one padded.
public final class Predictor {
    public let net: Net
    /// The inputs to give, by name, with the shape of one batch.
    public let inputs: [(name: String, shape: [Int])]
    /// The blob returned.
    public let output: String
    /// What the deploy form left out of the file (class names, augmentation), one sentence each.
    public let notes: [String]
    /// The data layer's class names, if it had `label_names`; else empty.
    public let classNames: [String]

    public convenience init(net path: String, weights: String?, state: NetState = NetState()) throws {
        try self.init(spec: try NetSpec.load(path: path, state: state), weights: weights)
    }

    /// `output`: a blob to return instead of the probabilities or last output (it is kept
    /// whole through forward).
    public init(spec: NetSpec, weights: String?, output wanted: String? = nil) throws {
        let names = try NetPlan(spec: spec, options: NetOptions(phase: .test)).dataSources.first?.labelNames ?? []
        let deploy = try DeployNet(spec)
        let net = try Net(spec: deploy.spec, options: NetOptions(phase: .test, purpose: .inference, keeping: wanted.map { [$0] } ?? []))
        self.net = net
        if let weights {
            try net.loadWeights(from: weights)
        } else if let first = net.parameters.first {
            throw SwiftCaffeError("the net has learnable parameters ('\(first.name)', ...) and no weights were given",
                                  hint: "pass the trained weights (.safetensors or .caffemodel)")
        }
        inputs = net.layers.indices.filter { net.bottoms[$0].isEmpty }.flatMap { index in net.tops[index].map { ($0.name, $0.shape) } }
        guard !inputs.isEmpty, let last = net.outputNames.last else {
            throw SwiftCaffeError("the net has no inputs or no outputs to predict with")
        }
        if let wanted {
            guard net.blobs[wanted] != nil else {
                throw SwiftCaffeError("the deploy form of the net has no blob '\(wanted)'", hint: "its blobs: \(net.blobs.keys.sorted().prefix(20).joined(separator: ", "))")
            }
            output = wanted
        } else {
            output = deploy.probabilities ?? last
        }
        notes = deploy.notes
        classNames = names
    }

    /// Runs the net on a tensor for its only input.
    public func callAsFunction(_ input: Safetensors.Tensor) throws -> Safetensors.Tensor {
        guard inputs.count == 1 else {
            throw SwiftCaffeError("the net has \(inputs.count) inputs (\(inputs.map(\.name).joined(separator: ", "))); give a tensor for each by name")
        }
        return try self([inputs[0].name: input])
    }

    /// Runs the net on a tensor for each input: N samples of the input's sample shape each,
    /// the same N for all. Returns the output for the N samples.
    public func callAsFunction(_ given: [String: Safetensors.Tensor]) throws -> Safetensors.Tensor {
        var count: Int?
        for (name, shape) in inputs {
            guard let tensor = given[name] else { throw SwiftCaffeError("no tensor for the input '\(name)'", hint: "give one of shape N×\(shape.dropFirst().map(String.init).joined(separator: "×"))") }
            guard tensor.shape.count == shape.count, Array(tensor.shape.dropFirst()) == Array(shape.dropFirst()), tensor.values.count == tensor.shape.reduce(1, *) else {
                throw SwiftCaffeError("the tensor for '\(name)' has shape \(tensor.shape), but the net takes N×\(shape.dropFirst().map(String.init).joined(separator: "×"))")
            }
            guard count == nil || count == tensor.shape[0] else { throw SwiftCaffeError("the inputs hold different numbers of samples") }
            count = tensor.shape[0]
        }
        if let unknown = given.keys.first(where: { name in !inputs.contains { $0.name == name } }) {
            throw SwiftCaffeError("the net has no input '\(unknown)'", hint: "its inputs are \(inputs.map(\.name).joined(separator: ", "))")
        }
        let samples = count ?? 0, batch = inputs[0].shape[0]
        let result = net.blobs[output]!
        let perSample = result.count / max(result.shape.first ?? 1, 1)
        var values: [Float] = []
        values.reserveCapacity(samples * perSample)
        for start in stride(from: 0, to: samples, by: batch) {
            let taken = min(batch, samples - start)
            var feed: [String: [Float]] = [:]
            for (name, shape) in inputs {
                let size = shape.dropFirst().reduce(1, *)
                var chunk = Array(given[name]!.values[(start * size)..<((start + taken) * size)])
                chunk += [Float](repeating: 0, count: (batch - taken) * size)
                feed[name] = chunk
            }
            try net.forward(replacing: feed)
            if firstNonFinite(result.data, taken * perSample) != nil {
                throw net.nonFiniteError(replacing: feed, during: "predicting")
            }
            values += UnsafeBufferPointer(start: result.data, count: taken * perSample)
        }
        return Safetensors.Tensor(shape: [samples] + result.shape.dropFirst(), values: values)
    }
}

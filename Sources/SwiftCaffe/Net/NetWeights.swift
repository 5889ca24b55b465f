import SwiftCaffeCore
import SwiftCaffeIO

/// A net's weights in and out of tensor files (safetensors, and every format registered with
/// `TensorFiles`, such as Caffe's .caffemodel), by parameter name.
///
/// A parameter is named `<layer>.<index>` (`conv1.0` is conv1's weight, `conv1.1` its bias, in
/// Caffe's blob order). One loader serves every caller: `test` and resuming require every
/// parameter; fine-tuning (`train --weights`) lets the ones the file lacks keep their fillers
/// unless `--strict`. A tensor of the wrong shape, or holding NaN or ±∞ (which would score
/// nonsense without a word), is always an error naming the tensor and its layer.
extension Net {
    /// Saves every learnable parameter as `<layer>.<index>`, atomically, in the format the
    /// extension names (`TensorFiles`: safetensors, or a registered one such as `.caffemodel`),
    /// or the one `formatExtension` names.
    public func saveWeights(to path: String, metadata: [String: String] = [:], formatExtension: String? = nil) throws {
        let types = Dictionary(layers.map { ($0.spec.name, $0.spec.type) }, uniquingKeysWith: { first, _ in first })
        let tensors = parameters.map { ($0.name, Safetensors.Tensor(shape: $0.blob.shape, values: $0.blob.dataArray)) }
        var metadata = metadata
        if metadata["net"] == nil { metadata["net"] = name }
        try TensorFiles.write(TensorFile(tensors: tensors, metadata: metadata, layerTypes: types), to: path, formatExtension: formatExtension)
    }

    /// Loads parameters by name and returns the names of those the file lacks, which keep
    /// their values. With `requireAll` (the default) a missing parameter is an error instead.
    @discardableResult
    public func loadWeights(from path: String, requireAll: Bool = true) throws -> [String] {
        let tensors = try TensorFiles.read(path).byName
        try checkBlobCounts(tensors, file: path)
        defer { parametersChanged() }  // also when a later tensor is refused after some were set
        var missing: [String] = []
        for parameter in parameters {
            let owner = plan.layer(named: parameter.layer)
            guard let tensor = tensors[parameter.name] else {
                missing.append(parameter.name)
                continue
            }
            // Shapes that differ only in leading 1s hold the same values in the same order:
            // Caffe's rule for its legacy 4-D fields (an InnerProduct weight O×K stored as
            // 1×1×O×K), applied to every file so that a converted caffemodel loads too.
            let expected = parameter.blob.shape
            guard tensor.shape == expected || tensor.shape.drop(while: { $0 == 1 }) == expected.drop(while: { $0 == 1 }) else {
                throw SwiftCaffeError("'\(parameter.name)' in '\(path)' has shape \(tensor.shape), but the net expects \(parameter.blob.shape)",
                                      at: owner?.spec.location, layer: owner?.spec.description,
                                      hint: requireAll ? "the weights come from a different net"
                                          : "rename the layer to train it from scratch, or fix its num_output")
            }
            if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                throw SwiftCaffeError("'\(parameter.name)' in '\(path)' holds \(tensor.values[bad]) at position \(bad)",
                                      at: owner?.spec.location, layer: owner?.spec.description,
                                      hint: "weights must be finite numbers; the file comes from a run that diverged, or is damaged")
            }
            parameter.blob.setData(tensor.values)
        }
        if !parameters.isEmpty && missing.count == parameters.count {
            let known = tensors.keys.sorted()
            throw SwiftCaffeError("no tensor of '\(path)' is a parameter of this net", at: plan.layers.first?.spec.location,
                                  hint: known.isEmpty ? "the file holds no tensors"
                                      : "it holds \(known.prefix(8).joined(separator: ", "))\(known.count > 8 ? ", ..." : ""): pass weights trained with this net (a .safetensors or .caffemodel; a .solverstate goes to --resume)")
        }
        if requireAll, let first = missing.first {
            let owner = plan.layer(named: parameters.first { $0.name == first }?.layer ?? "")
            let known = tensors.keys.sorted()
            throw SwiftCaffeError("the weights file '\(path)' has no tensor\(missing.count > 1 ? "s" : "") \(missing.map { "'\($0)'" }.joined(separator: ", "))",
                                  at: owner?.spec.location, layer: owner?.spec.description,
                                  hint: known.isEmpty ? "the file holds no tensors"
                                      : "it holds \(known.prefix(8).joined(separator: ", "))\(known.count > 8 ? ", ..." : ""); was it trained with this net?")
        }
        return missing
    }

    /// Tells the layers that keep their parameters in another form (`ParameterCaching`) to
    /// reread them: call it after writing an inference net's parameter blobs yourself.
    public func parametersChanged() {
        for case let layer as any ParameterCaching in layers { layer.parametersChanged() }
    }
}

extension Net {
    /// A file with more blobs for a layer than the layer has parameters was written for
    /// another net (Caffe: "Incompatible number of blobs"), even if the first ones fit.
    private func checkBlobCounts(_ tensors: [String: Safetensors.Tensor], file: String) throws {
        var counts: [String: Int] = [:]
        for layer in plan.layers + plan.folded.map(\.layer) { counts[layer.name] = layer.params.count }
        for name in tensors.keys {
            guard let dot = name.lastIndex(of: "."), let index = Int(name[name.index(after: dot)...]),
                  let expected = counts[String(name[..<dot])], index >= expected else { continue }
            let owner = plan.layer(named: String(name[..<dot]))
            throw SwiftCaffeError("'\(file)' has a tensor '\(name)', but the layer has \(expected) parameter blob\(expected == 1 ? "" : "s")",
                                  at: owner?.spec.location, layer: owner?.spec.description,
                                  hint: "the weights come from a net whose layer of this name has more parameters (Caffe: incompatible number of blobs)")
        }
    }

    /// A 64-bit FNV-1a hash of every parameter's values (their Float bit patterns as 32-bit
    /// words, in `parameters` order): equal on two nets exactly when their weights are
    /// bit-identical, barring a collision.
    public func weightsChecksum() -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for parameter in parameters {
            let values = parameter.blob.data
            for i in 0..<parameter.blob.count { hash = (hash ^ UInt64(values[i].bitPattern)) &* 0x0000_0100_0000_01b3 }
        }
        return hash
    }
}

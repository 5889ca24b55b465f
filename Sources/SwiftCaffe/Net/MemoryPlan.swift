import SwiftCaffeCore

/// The memory a net's blobs take once allocated: the parameters, the activations (every blob
/// between layers) and, in a net that trains, their gradients. Layers' own scratch buffers
/// (convolution columns, per-thread partial sums) are not counted: this is an estimate, exact
/// for the blobs, that `summary` shows and the net checks against `MemoryBudget`.
public struct MemoryPlan: Sendable {
    public var parameterBytes = 0
    /// What the activations take: less than `separateActivationBytes` when blobs share memory.
    public var activationBytes = 0
    /// What they would take each in memory of its own.
    public var separateActivationBytes = 0
    /// How many buffers the activations take (one per blob unless they share).
    public var activationBuffers = 0
    public var gradientBytes = 0
    /// Bytes per layer: its parameters and the tops it creates (in-place tops count once).
    public var layerBytes: [Int] = []

    public var totalBytes: Int { parameterBytes + activationBytes + gradientBytes }

    public init() {}

    /// What `net`'s blobs will take, with its groups of blobs that take turns in one buffer
    /// (`BlobSharing`) counted once each.
    init(_ net: NetPlan) {
        var counted: Set<ObjectIdentifier> = []
        for (index, layer) in net.layers.enumerated() {
            var bytes = 0
            for blob in layer.params + net.tops[index] where counted.insert(ObjectIdentifier(blob)).inserted {
                let size = blob.count * MemoryLayout<Float>.stride
                bytes += size
                if layer.params.contains(where: { $0 === blob }) {
                    parameterBytes += size
                    if net.phase == .train { gradientBytes += size }  // the solver reads every parameter's diff
                } else {
                    activationBytes += size
                    if blob.needsGradient { gradientBytes += size }
                }
            }
            layerBytes.append(bytes)
        }
        separateActivationBytes = activationBytes
        activationBuffers = net.blobs.count
        if let sharing = net.sharing {
            activationBytes = sharing.reduce(0) { $0 + ($1.map(\.count).max() ?? 0) * MemoryLayout<Float>.stride }
            activationBuffers = sharing.count
        }
    }

    /// Throws, naming the layer that takes the most, when the plan exceeds what the process
    /// may still allocate. Parameters already allocated (shared with another net) are not
    /// counted again.
    func checkFits(_ net: NetPlan) throws {
        let shared = net.parameters.filter(\.blob.isAllocated).reduce(0) { $0 + $1.blob.count * MemoryLayout<Float>.stride }
        let needed = totalBytes - shared
        let (available, bound) = MemoryBudget.available()
        guard needed > available else { return }
        let largest = layerBytes.indices.max { layerBytes[$0] < layerBytes[$1] } ?? 0
        let layer = net.layers[largest]
        throw layer.error("the \(net.phase) net needs \(humanBytes(needed)) (parameters \(humanBytes(parameterBytes)), activations \(humanBytes(activationBytes)), gradients \(humanBytes(gradientBytes))), \(humanBytes(layerBytes[largest])) of it for this layer, but the process can take only \(humanBytes(available)) more (\(bound))",
                          hint: "lower this layer's num_output or the batch_size, or allow more memory (--memory-limit, ulimit -v)")
    }
}

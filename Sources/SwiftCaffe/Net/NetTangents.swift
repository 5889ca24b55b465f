import SwiftCaffeCore
import SwiftCaffeLayers

/// Forward mode over a whole net: tangents pushed through the layers in their forward order.
extension Net {
    /// Runs one forward pass and, interleaved with it, the tangent of every blob along the
    /// direction given by `inputs` (tangents of blobs by name, such as an Input's data; every
    /// other blob a data layer produces gets zeros) and, unless nil, `parameters` (one tangent
    /// per entry of `parameters`, in that order). Each layer's tangent is computed right after
    /// its forward, so it sees the values its own forward saw, before a later in-place layer
    /// changes them. Where a blob feeds several layers, each gets the same tangent; where
    /// branches merge (Eltwise, Concat), the merging layer sums or joins their tangents.
    ///
    /// `values` replaces blobs' values right after the layer that writes them has run: a
    /// picture of one's own in place of what the data layer read.
    ///
    /// Returns every blob's tangent by name. Throws naming the first layer on the way that
    /// cannot push tangents (it does not adopt `TangentLayer`) or whose values or tangents are
    /// not finite, or a direction of the wrong size.
    public func forwardTangents(inputs: [String: [Float]] = [:], parameters: [[Float]]? = nil, values: [String: [Float]] = [:]) throws -> [String: Blob] {
        try checkReplacements(values)
        var tangents: [String: Blob] = [:]
        for (name, values) in inputs {
            guard let blob = blobs[name] else { throw SwiftCaffeError("the net has no blob '\(name)' to give a direction to") }
            // A computed blob's tangent is what its layer computes from its bottoms'; a
            // direction given for it would be overwritten, and every derivative read as 0.
            if let producer = plan.producer(of: blob), !plan.bottoms[plan.layers.firstIndex { $0 === producer }!].isEmpty {
                throw SwiftCaffeError("'\(name)' is computed by layer '\(producer.name)', so it cannot be given a direction of its own",
                                      hint: "give the direction to an input of the net: a top of a data or Input layer")
            }
            guard values.count == blob.count else { throw SwiftCaffeError("the direction for '\(name)' has \(values.count) values, the blob \(blob.count)") }
            tangents[name] = Blob(name: name, shape: blob.shape)
            tangents[name]!.setData(values)
        }
        // Shared parameters are one blob: each gets its tangent once, wherever it is used.
        var parameterTangents: [ObjectIdentifier: Blob] = [:]
        if let parameters {
            guard parameters.count == self.parameters.count else {
                throw SwiftCaffeError("\(parameters.count) parameter directions for the net's \(self.parameters.count) parameters")
            }
            for (parameter, values) in zip(self.parameters, parameters) {
                guard values.count == parameter.blob.count else {
                    throw SwiftCaffeError("the direction for '\(parameter.name)' has \(values.count) values, the parameter \(parameter.blob.count)")
                }
                let tangent = Blob(name: parameter.name, shape: parameter.blob.shape)
                tangent.setData(values)
                parameterTangents[ObjectIdentifier(parameter.blob)] = tangent
            }
        }
        for index in layers.indices {
            try forwardLayer(at: index, replacing: values)
            try checkFinite(layerAt: index)
            let layer = layers[index]
            let bottomTangent = bottoms[index].map { blob in
                tangents[blob.name] ?? Blob(name: blob.name, shape: blob.shape)  // no direction: held fixed
            }
            guard let tangentLayer = layer as? any TangentLayer else {
                if bottoms[index].isEmpty {  // a data layer: its outputs are held fixed unless given
                    for top in tops[index] where tangents[top.name] == nil { tangents[top.name] = Blob(name: top.name, shape: top.shape) }
                    continue
                }
                throw layer.error("cannot push tangents (forward mode)", hint: "the layer does not adopt TangentLayer")
            }
            let topTangent = tops[index].map { top in
                // In place, a top's tangent is its bottom's, updated where it stands.
                bottoms[index].firstIndex { $0 === top }.map { bottomTangent[$0] } ?? Blob(name: top.name, shape: top.shape)
            }
            let parameterTangent = parameters == nil ? nil : layer.params.map { parameterTangents[ObjectIdentifier($0)] ?? Blob(shape: $0.shape) }
            tangentLayer.forwardTangent(bottom: bottoms[index], bottomTangent: bottomTangent, top: tops[index], topTangent: topTangent,
                                        parameterTangent: parameterTangent)
            try checkFinite(layerAt: index, tangents: topTangent)
            for (top, tangent) in zip(tops[index], topTangent) { tangents[top.name] = tangent }
        }
        return tangents
    }

    /// The tangent of the net's weighted loss, from the loss tops' tangents.
    public func lossTangent(_ tangents: [String: Blob]) -> Double {
        lossTops.reduce(0.0) { sum, term in
            guard let tangent = tangents[term.blob.name] else { return sum }
            return sum + Double(term.weight) * (0..<tangent.count).reduce(0.0) { $0 + Double(tangent.data[$1]) }
        }
    }

    /// The first layer that cannot push tangents (data layers aside, which need not), if any.
    public var firstLayerWithoutForwardMode: (any Layer)? {
        layers.indices.first { !bottoms[$0].isEmpty && !(layers[$0] is any TangentLayer) }.map { layers[$0] }
    }
}

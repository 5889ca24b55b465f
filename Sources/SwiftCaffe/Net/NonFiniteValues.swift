import SwiftCaffeCore
import SwiftCaffeLayers

/// Where a value that is not finite (NaN, ±∞) came from: the first layer that wrote one from
/// finite bottoms and parameters. A score, a probability or a loss that is not finite is an
/// error naming that layer, in every command (`test`, `classify`, `jvp`, `train`), never a
/// number printed as if it meant something.
extension Net {
    /// The error for a forward pass whose outputs are not all finite: a twin of this net,
    /// planned as written (no folding, no shared buffers, so every blob keeps its value) and
    /// sharing these parameters, runs the same batch (the data layers first served
    /// `batchesBefore` batches; `replacing` as in `forward(replacing:)`), checking every
    /// layer's tops as they are written. `during` says when ("at batch 3 of the test").
    public func nonFiniteError(batchesBefore: Int = 0, replacing values: [String: [Float]] = [:], during moment: String) -> SwiftCaffeError {
        var options = plan.options
        options.purpose = .asWritten
        options.keeping = []
        options.sharingParametersWith = self
        let fallback = SwiftCaffeError("the net computed values that are not finite (NaN or ±∞) \(moment)",
                                       hint: "check the data for NaN or ±∞, and the weights for values too large")
        guard let twin = try? Net(spec: plan.spec, options: options) else { return fallback }
        let data = twin.plan.layers.indices.filter { twin.plan.bottoms[$0].isEmpty }
        do {
            for _ in 0..<batchesBefore { for index in data { try twin.forwardLayer(at: index) } }
            try twin.forwardCheckingFinite(replacing: values)
        } catch let error as SwiftCaffeError {
            return error.during(moment)
        } catch {}
        return fallback
    }

    /// Forward, checking each layer's tops right after it writes them; throws naming the
    /// first layer that writes a value that is not finite, and whether its bottoms or its
    /// parameters already held one.
    public func forwardCheckingFinite(replacing values: [String: [Float]] = [:]) throws {
        try checkReplacements(values)
        for index in plan.layers.indices {
            try forwardLayer(at: index, replacing: values)
            try checkFinite(layerAt: index)
        }
    }

    /// Throws naming the layer at `index` if one of its tops (or, given, the tops' tangents)
    /// holds a value that is not finite.
    func checkFinite(layerAt index: Int, tangents: [Blob]? = nil) throws {
        let layer = plan.layers[index]
        for top in tangents ?? plan.tops[index] {
            guard let position = firstNonFinite(top.data, top.count) else { continue }
            let value = top.data[position]
            if tangents != nil {
                throw layer.error("its derivative along the direction is \(value) in '\(top.name)' at position \(position)",
                                  hint: "the direction, or the derivatives it leads to, outgrew Float's range (±3.4e38); scale the direction down")
            }
            if plan.bottoms[index].isEmpty {
                throw layer.error("served \(value) in '\(top.name)' at position \(position)", hint: "the data holds values that are not finite; clean them or leave the sample out")
            }
            if let parameter = layer.params.firstIndex(where: { firstNonFinite($0.data, $0.count) != nil }) {
                throw layer.error("its parameter \(parameter) holds values that are not finite", hint: "the weights come from a run that diverged, or are damaged")
            }
            throw layer.error("computed \(value) in '\(top.name)' at position \(position) from finite inputs and parameters",
                              hint: "a value grew past Float's range (±3.4e38) or the layer met a singular point (a Log of 0, a Power with a negative exponent); check the weights' sizes and this layer's keys")
        }
    }
}

/// The first position of a value that is not finite, eight at a time.
func firstNonFinite(_ values: UnsafeMutablePointer<Float>, _ count: Int) -> Int? {
    var i = 0
    while i + 8 <= count {
        let lanes = UnsafeRawPointer(values + i).loadUnaligned(as: SIMD8<Float>.self)
        // x − x is 0 for every finite x and NaN for NaN and ±∞.
        if any((lanes - lanes) .!= 0) { break }
        i += 8
    }
    while i < count {
        if !values[i].isFinite { return i }
        i += 1
    }
    return nil
}

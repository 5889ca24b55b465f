/// One step of a net's forward pass: a layer's spec, whose bottoms and tops are the blob names
/// it reads and writes once implicit Split layers have been inserted.
public struct ScheduledLayer {
    public var spec: LayerSpec
    public var bottoms: [String] { spec.bottoms }
    public var tops: [String] { spec.tops }
}

/// Turns a net file's layers, in any order, into an execution order.
///
/// The graph is built from blob names. A layer whose top is also one of its bottoms works in
/// place: it modifies the blob after the layer that created it, and several in-place layers on
/// one blob apply in file order (the only order the file gives). Every other reader of a blob
/// reads its final value. Layers are ordered topologically, ties broken by name; a blob
/// read by several layers gets a Split layer so that their gradients are summed.
///
/// A layer whose backward needs its input (`supportsInPlace` false: PReLU, Power, ...) may
/// still be written in place, as Caffe allows: the value before it is renamed `blob~layer`,
/// so the layer reads that and writes the blob under its own name. That costs the copy
/// Caffe's PReLU keeps itself, and every other reader still sees the final value under the
/// blob's name. So is the value after an in-place layer whose backward reads its top (a ReLU
/// followed by a BatchNorm on the same blob): Caffe would take the ReLU's gradient from the
/// BatchNorm's output.
public enum NetSchedule {
    public static func schedule(_ specs: [LayerSpec]) throws -> [ScheduledLayer] {
        var creator: [String: Int] = [:]
        var modifiers: [String: [Int]] = [:]
        for (index, spec) in specs.enumerated() {
            var seen: Set<String> = []
            for top in spec.tops {
                if !seen.insert(top).inserted {
                    throw SwiftCaffeError("top '\(top)' is listed twice", at: spec.node("top")?.location ?? spec.location, layer: spec.description)
                }
                if spec.bottoms.contains(top) {
                    modifiers[top, default: []].append(index)
                } else if let first = creator[top] {
                    throw SwiftCaffeError("top '\(top)' is already produced by layer '\(specs[first].name)' (line \(specs[first].location.line))",
                                          at: spec.node("top")?.location ?? spec.location, layer: spec.description,
                                          hint: "rename one of the two tops; to modify a blob in place, list it as both bottom and top")
                } else {
                    creator[top] = index
                }
            }
        }
        let blobNames = Array(creator.keys).sorted()
        for spec in specs {
            for bottom in spec.bottoms where creator[bottom] == nil {
                throw SwiftCaffeError("bottom '\(bottom)' is not produced by any layer", at: spec.node("bottom")?.location ?? spec.location,
                                      layer: spec.description,
                                      hint: nearest(bottom, in: blobNames).map { "did you mean '\($0)'?" }
                                          ?? (blobNames.isEmpty ? "no layer has a top yet" : "blobs in this net: \(blobNames.joined(separator: ", "))"))
            }
        }

        // Who writes each blob, in order; each reader depends on the right writer.
        func writers(_ blob: String) -> [Int] { [creator[blob]!] + (modifiers[blob] ?? []) }
        var dependencies = [Set<Int>](repeating: [], count: specs.count)
        for (index, spec) in specs.enumerated() {
            for bottom in spec.bottoms {
                let chain = writers(bottom)
                if spec.tops.contains(bottom), let position = chain.firstIndex(of: index) {
                    dependencies[index].insert(chain[position - 1])
                } else {
                    dependencies[index].insert(chain.last!)
                }
            }
            dependencies[index].remove(index)
        }

        // Kahn's algorithm. Ties go to the smallest layer name, not the first in the file, so
        // that reordering a file gives the very same schedule (and bit-identical training).
        var remaining = dependencies.map(\.count)
        var dependents = [[Int]](repeating: [], count: specs.count)
        for (index, deps) in dependencies.enumerated() { for d in deps { dependents[d].append(index) } }
        var ready = Set((0..<specs.count).filter { remaining[$0] == 0 })
        var order: [Int] = []
        while let next = ready.min(by: { (specs[$0].name, $0) < (specs[$1].name, $1) }) {
            ready.remove(next)
            order.append(next)
            for d in dependents[next] {
                remaining[d] -= 1
                if remaining[d] == 0 { ready.insert(d) }
            }
        }
        if order.count < specs.count {
            throw cycleError(specs, dependencies: dependencies, unscheduled: Set(0..<specs.count).subtracting(order))
        }

        var scheduled = order.map { ScheduledLayer(spec: specs[$0]) }
        for position in scheduled.indices {
            let layer = scheduled[position]
            func type(_ spec: LayerSpec) -> (any Layer.Type)? { LayerRegistry.type(named: spec.type) }
            let needsInput = type(layer.spec)?.supportsInPlace == false
            for blob in layer.tops where layer.bottoms.contains(blob) {
                // The layer working on the blob in place just before this one, if any.
                let previous = (0..<position).last { scheduled[$0].tops.contains(blob) }.map { scheduled[$0] }
                let overwritesTopRead = previous.map { $0.bottoms.contains(blob) && type($0.spec)?.backwardReadsTop == true } ?? false
                guard needsInput || overwritesTopRead else { continue }
                let before = "\(blob)~\(layer.spec.name)"
                for earlier in 0..<position where scheduled[earlier].tops.contains(blob) {
                    let spec = scheduled[earlier].spec
                    scheduled[earlier].spec = spec.rewired(bottoms: spec.bottoms.map { $0 == blob ? before : $0 }, tops: spec.tops.map { $0 == blob ? before : $0 })
                }
                scheduled[position].spec = scheduled[position].spec.rewired(bottoms: scheduled[position].bottoms.map { $0 == blob ? before : $0 })
            }
        }

        // Caffe's propagate_down: false puts a StopGradient between the bottom and the layer.
        var stops: [(before: Int, layer: ScheduledLayer)] = []
        for (position, layer) in scheduled.enumerated() where layer.spec.propagateDown.contains(false) {
            var bottoms = layer.bottoms
            for (slot, propagates) in layer.spec.propagateDown.enumerated() where !propagates {
                let blob = bottoms[slot]
                if layer.tops.contains(blob) {
                    throw SwiftCaffeError("'propagate_down: false' on '\(blob)', which the layer modifies in place", at: layer.spec.location,
                                          layer: layer.spec.description, hint: "give the layer's top a new name")
                }
                bottoms[slot] = "\(blob)~stop~\(layer.spec.name)"
                let stop = LayerSpec(name: "\(layer.spec.name)/stop\(slot)", type: "StopGradient", bottoms: [blob], tops: [bottoms[slot]],
                                     at: layer.spec.location)
                stops.append((position, ScheduledLayer(spec: stop)))
            }
            scheduled[position].spec = layer.spec.rewired(bottoms: bottoms)
        }
        for stop in stops.reversed() { scheduled.insert(stop.layer, at: stop.before) }

        // Insert a Split after the final writer of every blob with several readers.
        var readers: [String: [(layer: Int, slot: Int)]] = [:]
        for (position, layer) in scheduled.enumerated() {
            for (slot, bottom) in layer.bottoms.enumerated() where !layer.tops.contains(bottom) {
                readers[bottom, default: []].append((position, slot))
            }
        }
        var splits: [(after: Int, layer: ScheduledLayer)] = []
        for blob in readers.keys.sorted() {
            guard let uses = readers[blob], uses.count > 1 else { continue }
            let splitTops = uses.indices.map { "\(blob)_split_\($0)" }
            for (use, top) in zip(uses, splitTops) {
                var bottoms = scheduled[use.layer].bottoms
                bottoms[use.slot] = top
                scheduled[use.layer].spec = scheduled[use.layer].spec.rewired(bottoms: bottoms)
            }
            let lastWriter = order.firstIndex(of: writers(blob).last!)!
            let split = LayerSpec(name: "\(blob)_split", type: "Split", bottoms: [blob], tops: splitTops, at: specs[order[lastWriter]].location)
            splits.append((lastWriter, ScheduledLayer(spec: split)))
        }
        for split in splits.sorted(by: { $0.after > $1.after }) {
            scheduled.insert(split.layer, at: split.after + 1)
        }
        return scheduled
    }

    private static func cycleError(_ specs: [LayerSpec], dependencies: [Set<Int>], unscheduled: Set<Int>) -> SwiftCaffeError {
        // Walk dependencies inside the unscheduled set until a layer repeats: that is a cycle.
        var path: [Int] = [unscheduled.min()!]
        while true {
            let next = dependencies[path.last!].intersection(unscheduled).min()!
            if let start = path.firstIndex(of: next) {
                // In data-flow order, starting from the layer written first in the file.
                var loop = Array(path[start...].reversed())
                let earliest = loop.firstIndex(of: loop.min()!)!
                loop = Array(loop[earliest...] + loop[..<earliest])
                let cycle = loop + [loop[0]]
                let names = cycle.map { "'\(specs[$0].name)'" }.joined(separator: " → ")
                let first = specs[cycle.first!]
                return SwiftCaffeError("the layers form a cycle: \(names)", at: first.location, layer: first.description,
                                       hint: "a net must be acyclic; check the bottom and top names along this cycle")
            }
            path.append(next)
        }
    }
}

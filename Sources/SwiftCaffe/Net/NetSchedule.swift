import SwiftCaffeCore
import SwiftCaffeLayers
import SwiftCaffeSpec

/// One step of a net's forward pass: a layer's spec, whose bottoms and tops are the blob names
/// it reads and writes once the schedule's own layers (Splits, StopGradients) are in.
public struct ScheduledLayer {
    public var spec: LayerSpec
    public var bottoms: [String] { spec.bottoms }
    public var tops: [String] { spec.tops }
}

/// Turns a net file's layers, in any order, into an execution order, in four passes:
///
/// 1. `BlobGraph`: who creates and who modifies each blob. A layer whose top is also one of
///    its bottoms works in place: it modifies the blob after the layer that created it, and
///    several in-place layers on one blob apply in file order (the only order the file gives).
///    Every other reader of a blob reads its final value.
/// 2. `orderTopologically`: Kahn's algorithm, ties broken by layer name, so reordering a file
///    gives the very same schedule (and bit-identical training).
/// 3. `keepValuesOverwrittenInPlace`: a layer whose backward needs its input (`supportsInPlace`
///    false: PReLU, Power, ...) may still be written in place, as Caffe allows: the value before
///    it is renamed `blob~layer`, so the layer reads that and writes the blob under its own
///    name (the copy Caffe's PReLU keeps itself), and every other reader still sees the final
///    value under the blob's name. So is the value after an in-place layer whose backward
///    reads its top (a ReLU followed by a BatchNorm on the same blob): Caffe would take the
///    ReLU's gradient from the BatchNorm's output.
/// 4. `insertStopGradients` for Caffe's `propagate_down: false`, then `insertSplits`: a blob
///    read by several layers gets a Split, so that their gradients are summed.
///
/// Every pass is linear in the number of layers and blob uses (up to the sort's log), so a net
/// of 200,000 layers or a blob with 100,000 readers schedules in moments.
public enum NetSchedule {
    /// `elsewhere`: the file's layers of the other phase, which only improve the message for a
    /// bottom this phase does not produce.
    public static func schedule(_ specs: [LayerSpec], elsewhere: [LayerSpec] = []) throws -> [ScheduledLayer] {
        let graph = try BlobGraph(specs, elsewhere: elsewhere)
        let order = try orderTopologically(specs, graph: graph)
        var scheduled = order.map { ScheduledLayer(spec: specs[$0]) }
        keepValuesOverwrittenInPlace(&scheduled)
        try insertStopGradients(&scheduled)
        insertSplits(&scheduled)
        return scheduled
    }

    /// Pass 2. Each reader depends on the writer whose value it reads: an in-place layer on
    /// the writer just before it in the blob's chain, any other reader on the last.
    static func orderTopologically(_ specs: [LayerSpec], graph: BlobGraph) throws -> [Int] {
        var dependencies = [[Int]](repeating: [], count: specs.count)
        for (index, spec) in specs.enumerated() {
            var seen: Set<Int> = []
            for bottom in spec.bottoms {
                let chain = graph.writers[bottom]!
                let writer = spec.tops.contains(bottom) ? chain[graph.positionInChain[index]![bottom]! - 1] : chain.last!
                if writer != index && seen.insert(writer).inserted { dependencies[index].append(writer) }
            }
        }
        var remaining = dependencies.map(\.count)
        var dependents = [[Int]](repeating: [], count: specs.count)
        for (index, deps) in dependencies.enumerated() { for d in deps { dependents[d].append(index) } }
        var ready = NameHeap(names: specs.map(\.name))
        for index in specs.indices where remaining[index] == 0 { ready.push(index) }
        var order: [Int] = []
        order.reserveCapacity(specs.count)
        while let next = ready.pop() {
            order.append(next)
            for d in dependents[next] {
                remaining[d] -= 1
                if remaining[d] == 0 { ready.push(d) }
            }
        }
        if order.count < specs.count {
            throw cycleError(specs, dependencies: dependencies, unscheduled: Set(specs.indices).subtracting(order))
        }
        return order
    }

    /// Pass 3 (see the type's comment). `current[blob]` holds the positions that write the
    /// blob under its own name since it was last renamed, so each writer is renamed at most
    /// once per layer that needs it kept, and the pass stays linear.
    static func keepValuesOverwrittenInPlace(_ scheduled: inout [ScheduledLayer]) {
        var current: [String: [Int]] = [:]
        for position in scheduled.indices {
            let layer = scheduled[position]
            let needsInput = LayerRegistry.type(named: layer.spec.type)?.supportsInPlace == false
            for blob in layer.tops where layer.bottoms.contains(blob) {
                let previous = current[blob]?.last.map { scheduled[$0] }
                let overwritesTopRead = previous.map { $0.bottoms.contains(blob) && LayerRegistry.type(named: $0.spec.type)?.backwardReadsTop == true } ?? false
                guard needsInput || overwritesTopRead else { continue }
                let before = "\(blob)~\(layer.spec.name)"
                for earlier in current[blob] ?? [] {
                    let spec = scheduled[earlier].spec
                    scheduled[earlier].spec = spec.rewired(bottoms: spec.bottoms.map { $0 == blob ? before : $0 }, tops: spec.tops.map { $0 == blob ? before : $0 })
                }
                current[blob] = []
                scheduled[position].spec = scheduled[position].spec.rewired(bottoms: scheduled[position].bottoms.map { $0 == blob ? before : $0 })
            }
            for top in scheduled[position].tops { current[top, default: []].append(position) }
        }
    }

    /// Pass 4a. Caffe's `propagate_down: false` puts a StopGradient between the bottom and the layer.
    static func insertStopGradients(_ scheduled: inout [ScheduledLayer]) throws {
        guard scheduled.contains(where: { $0.spec.propagateDown.contains(false) }) else { return }
        var result: [ScheduledLayer] = []
        result.reserveCapacity(scheduled.count)
        for layer in scheduled {
            guard layer.spec.propagateDown.contains(false) else {
                result.append(layer)
                continue
            }
            var bottoms = layer.bottoms
            for (slot, propagates) in layer.spec.propagateDown.enumerated() where !propagates {
                let blob = bottoms[slot]
                if layer.tops.contains(blob) {
                    throw SwiftCaffeError("'propagate_down: false' on '\(blob)', which the layer modifies in place", at: layer.spec.location,
                                          layer: layer.spec.description, hint: "give the layer's top a new name")
                }
                bottoms[slot] = "\(blob)~stop~\(layer.spec.name)"
                result.append(ScheduledLayer(spec: LayerSpec(name: "\(layer.spec.name)/stop\(slot)", type: "StopGradient", bottoms: [blob],
                                                            tops: [bottoms[slot]], at: layer.spec.location)))
            }
            result.append(ScheduledLayer(spec: layer.spec.rewired(bottoms: bottoms)))
        }
        scheduled = result
    }

    /// Pass 4b. A Split after the final writer of every blob with several readers; each
    /// reader then reads its own top of the Split.
    static func insertSplits(_ scheduled: inout [ScheduledLayer]) {
        var readers: [String: [(layer: Int, slot: Int)]] = [:]
        var lastWriter: [String: Int] = [:]
        for (position, layer) in scheduled.enumerated() {
            for (slot, bottom) in layer.bottoms.enumerated() where !layer.tops.contains(bottom) {
                readers[bottom, default: []].append((position, slot))
            }
            for top in layer.tops { lastWriter[top] = position }
        }
        var rewiredBottoms: [Int: [String]] = [:]
        var splitsAfter: [Int: [ScheduledLayer]] = [:]
        for blob in readers.keys.sorted() {
            guard let uses = readers[blob], uses.count > 1, let writer = lastWriter[blob] else { continue }
            let splitTops = uses.indices.map { "\(blob)_split_\($0)" }
            for (use, top) in zip(uses, splitTops) {
                rewiredBottoms[use.layer, default: scheduled[use.layer].bottoms][use.slot] = top
            }
            let split = LayerSpec(name: "\(blob)_split", type: "Split", bottoms: [blob], tops: splitTops, at: scheduled[writer].spec.location)
            splitsAfter[writer, default: []].append(ScheduledLayer(spec: split))
        }
        guard !splitsAfter.isEmpty else { return }
        var result: [ScheduledLayer] = []
        result.reserveCapacity(scheduled.count + splitsAfter.count)
        for (position, layer) in scheduled.enumerated() {
            result.append(rewiredBottoms[position].map { ScheduledLayer(spec: layer.spec.rewired(bottoms: $0)) } ?? layer)
            // Several Splits after one layer (one per top) go in reverse blob order, as they always have.
            result.append(contentsOf: (splitsAfter[position] ?? []).reversed())
        }
        scheduled = result
    }

    private static func cycleError(_ specs: [LayerSpec], dependencies: [[Int]], unscheduled: Set<Int>) -> SwiftCaffeError {
        // Walk dependencies inside the unscheduled set until a layer repeats: that is a cycle.
        var path: [Int] = [unscheduled.min()!]
        var onPath: [Int: Int] = [path[0]: 0]
        while true {
            let next = dependencies[path.last!].filter(unscheduled.contains).min()!
            if let start = onPath[next] {
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
            onPath[next] = path.count
            path.append(next)
        }
    }
}

/// Pass 1 of `NetSchedule`: the layers that write each blob, in order (its creator, then the
/// layers that modify it in place, in file order), after the checks every net file needs: no
/// top listed twice, no blob created twice, no bottom that nothing produces.
struct BlobGraph {
    /// Per blob, the layers (indices into the specs) that write it: its creator first.
    var writers: [String: [Int]] = [:]
    /// For each in-place layer, the position in each modified blob's chain.
    var positionInChain: [Int: [String: Int]] = [:]

    init(_ specs: [LayerSpec], elsewhere: [LayerSpec] = []) throws {
        var creator: [String: Int] = [:]
        var modifiers: [String: [Int]] = [:]
        for (index, spec) in specs.enumerated() {
            var seen: Set<String> = []
            for top in spec.tops {
                if !seen.insert(top).inserted {
                    throw SwiftCaffeError("top '\(top)' is listed twice", at: spec.node("top")?.location ?? spec.location, layer: spec.description)
                }
                if spec.bottoms.contains(top) {
                    // Caffe too refuses this: its in-place top is then written by two sources.
                    if spec.bottoms.filter({ $0 == top }).count > 1 {
                        throw SwiftCaffeError("bottom '\(top)' is listed twice by a layer that writes it in place",
                                              at: spec.node("top")?.location ?? spec.location, layer: spec.description,
                                              hint: "give the top a new name")
                    }
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
        var blobNames: [String]?
        for spec in specs {
            for bottom in spec.bottoms where creator[bottom] == nil {
                if let producer = elsewhere.first(where: { $0.tops.contains(bottom) }), let phase = producer.phase {
                    let this = phase == .train ? "test" : "train"
                    throw SwiftCaffeError("bottom '\(bottom)' is not produced in the \(this) phase: only layer '\(producer.name)' (line \(producer.location.line), phase: \(phase.rawValue)) produces it",
                                          at: spec.node("bottom")?.location ?? spec.location, layer: spec.description,
                                          hint: "give the \(this) phase a layer that produces '\(bottom)' (a data layer with 'phase: \(this)'), or remove 'phase' from '\(producer.name)'")
                }
                let names = blobNames ?? creator.keys.sorted()
                blobNames = names
                throw SwiftCaffeError("bottom '\(bottom)' is not produced by any layer", at: spec.node("bottom")?.location ?? spec.location,
                                      layer: spec.description,
                                      hint: nearest(bottom, in: names).map { "did you mean '\($0)'?" }
                                          ?? (names.isEmpty ? "no layer has a top yet" : "blobs in this net: \(names.prefix(20).joined(separator: ", "))\(names.count > 20 ? ", ..." : "")"))
            }
        }
        for (blob, first) in creator {
            let chain = [first] + (modifiers[blob] ?? [])
            writers[blob] = chain
            for (position, writer) in chain.enumerated().dropFirst() { positionInChain[writer, default: [:]][blob] = position }
        }
    }
}

/// A min-heap of layer indices ordered by (name, index): Kahn's "ready" set, so that taking
/// the next layer costs a logarithm rather than a scan.
struct NameHeap {
    let names: [String]
    private var items: [Int] = []

    init(names: [String]) { self.names = names }

    private func less(_ a: Int, _ b: Int) -> Bool { (names[a], a) < (names[b], b) }

    mutating func push(_ item: Int) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Int? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count && less(items[left], items[smallest]) { smallest = left }
            if right < items.count && less(items[right], items[smallest]) { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

import SwiftCaffe

/// Constant folding while an ONNX model is read: a node whose inputs are all known becomes a
/// known value, not a layer. This is how an exporter's shape arithmetic (`Shape` → `Gather` →
/// `Unsqueeze` → `Concat` → `Reshape`) turns into the one Reshape it means.
extension Translator {
    /// Computes `node`'s outputs when they follow from constants; false when the net must.
    mutating func fold(_ node: Node) throws -> Bool {
        if node.opType == "Constant" {
            constants[node.outputs[0]] = try constantValue(node)
            return true
        }
        if node.opType == "Shape", isGiven(node, 0), let shape = shapes[node.inputs[0]] {
            let rank = shape.count
            var start = try int(node, "start", 0), end = try int(node, "end", rank)
            start = min(max(start < 0 ? start + rank : start, 0), rank)
            end = min(max(end < 0 ? end + rank : end, 0), rank)
            let dims = Array(shape[start..<max(start, end)])
            let batch: Set<Int> = start == 0 && !dims.isEmpty && batchLed.contains(node.inputs[0]) ? [0] : []
            constants[node.outputs[0]] = Tensor(dims: [dims.count], floats: dims.map(Float.init), ints: dims, batch: batch)
            return true
        }
        let inputs = node.inputs.filter { !$0.isEmpty }
        guard !inputs.isEmpty, inputs.allSatisfy({ constants[$0] != nil }) else { return false }
        let values = node.inputs.map { $0.isEmpty ? nil : constants[$0] }
        func value(_ index: Int) throws -> Tensor {
            guard index < values.count, let tensor = values[index] else { throw refusal(node, "lacks input \(index + 1)") }
            return tensor
        }
        let result: Tensor
        switch node.opType {
        case "Identity", "Dropout":
            result = try value(0)
        case "Cast":
            let to = try int(node, "to", 1), source = try value(0)
            let integral = TensorReader.integerTypes.contains(to)
            let ints = integral ? try integers(source) : nil
            result = Tensor(dims: source.dims, floats: ints.map { $0.map(Float.init) } ?? source.floats, ints: ints, batch: source.batch)
        case "Unsqueeze", "Squeeze", "Reshape", "Flatten":
            let source = try value(0)
            let shape = try reshaped(node, source.dims, axesOrShape: isGiven(node, 1) ? integers(try value(1)) : nil)
            result = Tensor(dims: shape, floats: source.floats, ints: source.ints, batch: source.batch)
        case "Concat":
            let parts = try (0..<inputs.count).map(value)
            let axis = try self.axis(node, try int(node, "axis", 0), rank: parts[0].dims.count)
            guard axis == 0, parts.allSatisfy({ $0.dims.count == 1 }) else { throw refusal(node, "joins constants other than lists") }
            let ints = parts.allSatisfy { $0.ints != nil } ? parts.flatMap { $0.ints! } : nil
            var batch = Set<Int>(), offset = 0
            for part in parts {
                batch.formUnion(part.batch.map { $0 + offset })
                offset += part.count
            }
            result = Tensor(dims: [parts.reduce(0) { $0 + $1.count }], floats: parts.flatMap(\.floats), ints: ints, batch: batch)
        case "Gather":
            let data = try value(0), indices = try value(1)
            guard try int(node, "axis", 0) == 0, data.dims.count == 1 else { throw refusal(node, "gathers from a constant other than a list") }
            let picked = try integers(indices).map { index -> Int in
                let position = index < 0 ? index + data.count : index
                guard (0..<data.count).contains(position) else { throw refusal(node, "gathers index \(index) of a list of \(data.count)") }
                return position
            }
            result = Tensor(dims: indices.dims, floats: picked.map { data.floats[$0] }, ints: data.ints.map { ints in picked.map { ints[$0] } },
                            batch: Set(picked.indices.filter { data.batch.contains(picked[$0]) }))
        case "Add", "Sub", "Mul", "Div":
            let a = try value(0), b = try value(1)
            guard a.count == b.count || a.count == 1 || b.count == 1 else { throw refusal(node, "broadcasts constants of shapes \(a.dims) and \(b.dims)") }
            let count = max(a.count, b.count), dims = a.count >= b.count ? a.dims : b.dims
            func at(_ tensor: Tensor, _ index: Int) -> Int { tensor.count == 1 ? 0 : index }
            if let x = a.ints, let y = b.ints {
                let ints = try (0..<count).map { index -> Int in
                    let (p, q) = (x[at(a, index)], y[at(b, index)])
                    switch node.opType {
                    case "Add": return p &+ q
                    case "Sub": return p &- q
                    case "Mul": return p &* q
                    default:
                        let (quotient, overflow) = p.dividedReportingOverflow(by: q)
                        guard q != 0, !overflow else { throw refusal(node, "divides \(p) by \(q)") }
                        return quotient
                    }
                }
                result = Tensor(dims: dims, floats: ints.map(Float.init), ints: ints)
            } else {
                let floats = (0..<count).map { index -> Float in
                    let (p, q) = (a.floats[at(a, index)], b.floats[at(b, index)])
                    switch node.opType {
                    case "Add": return p + q
                    case "Sub": return p - q
                    case "Mul": return p * q
                    default: return p / q
                    }
                }
                result = Tensor(dims: dims, floats: floats, ints: nil)
            }
        case "Slice":
            let data = try value(0)
            guard data.dims.count == 1 else { throw refusal(node, "slices a constant other than a list") }
            let starts = try integers(value(1)), ends = try integers(value(2))
            let steps = isGiven(node, 4) ? try integers(value(4)) : [1]
            guard starts.count == 1, ends.count == 1, steps == [1] else { throw refusal(node, "slices a list with steps") }
            let range = clamped(starts[0], ends[0], count: data.count)
            result = Tensor(dims: [range.count], floats: Array(data.floats[range]), ints: data.ints.map { Array($0[range]) },
                            batch: Set(data.batch.filter(range.contains).map { $0 - range.lowerBound }))
        default:
            return false
        }
        guard result.floats.count == result.count else { throw refusal(node, "folds to \(result.floats.count) values for shape \(result.dims)") }
        constants[node.outputs[0]] = result
        return true
    }

    /// `Constant`'s value: a tensor, or one of the scalar and list forms.
    func constantValue(_ node: Node) throws -> Tensor {
        switch (node.attributes["value"], node.attributes["value_float"], node.attributes["value_floats"],
                node.attributes["value_int"], node.attributes["value_ints"]) {
        case (.tensor(let tensor)?, _, _, _, _): return tensor
        case (_, .float(let value)?, _, _, _): return Tensor(dims: [], floats: [value])
        case (_, _, .floats(let values)?, _, _): return Tensor(dims: [values.count], floats: values)
        case (_, _, _, .int(let value)?, _): return Tensor(dims: [], floats: [Float(value)], ints: [value])
        case (_, _, _, _, .ints(let values)?): return Tensor(dims: [values.count], floats: values.map(Float.init), ints: values)
        default: throw refusal(node, "has no value SwiftCaffe reads (value, value_float(s), value_int(s))")
        }
    }

    /// The part start..<end of a list of `count`, with ONNX's negative and out-of-range ends.
    func clamped(_ start: Int, _ end: Int, count: Int) -> Range<Int> {
        func position(_ value: Int) -> Int { min(max(value < 0 ? value + count : value, 0), count) }
        let lower = position(start)
        return lower..<max(lower, position(end))
    }

    /// The shape `Unsqueeze`, `Squeeze`, `Reshape` or `Flatten` makes of `shape`; `given` is
    /// the axes or the target shape when the node takes them as an input (newer opsets).
    func reshaped(_ node: Node, _ shape: [Int], axesOrShape given: [Int]?) throws -> [Int] {
        switch node.opType {
        case "Unsqueeze":
            guard let axes = try given ?? ints(node, "axes") else { throw refusal(node, "gives no axes") }
            let rank = shape.count + axes.count
            let inserted = Set(try axes.map { try axis(node, $0, rank: rank) })
            var remaining = shape.makeIterator()
            return (0..<rank).map { inserted.contains($0) ? 1 : remaining.next() ?? 1 }
        case "Squeeze":
            let axes = try given ?? ints(node, "axes")
            let removed = try axes.map { Set(try $0.map { try axis(node, $0, rank: shape.count) }) } ?? Set(shape.indices.filter { shape[$0] == 1 })
            guard removed.allSatisfy({ shape[$0] == 1 }) else { throw refusal(node, "squeezes an axis of size other than 1 from \(shape)") }
            return shape.indices.filter { !removed.contains($0) }.map { shape[$0] }
        case "Flatten":
            let at = try axis(node, try int(node, "axis", 1), rank: shape.count + 1)
            return [shape[..<at].reduce(1, *), shape[at...].reduce(1, *)]
        default:  // Reshape
            guard let target = given else { throw refusal(node, "gives no shape") }
            guard try int(node, "allowzero", 0) == 0 else { throw refusal(node, "asks for allowzero, which Caffe's Reshape does not have") }
            var result = try target.enumerated().map { index, size -> Int in
                guard size >= -1 else { throw refusal(node, "asks for a dimension of \(size)") }
                if size == 0 {
                    guard index < shape.count else { throw refusal(node, "copies dimension \(index) of a \(shape.count)-D tensor") }
                    return shape[index]
                }
                return size
            }
            let total = shape.reduce(1, *)  // a shape the net already holds: no overflow
            if let unknown = result.firstIndex(of: -1) {
                let others = result.enumerated().filter { $0.offset != unknown }.map(\.element)
                guard result.filter({ $0 == -1 }).count == 1, let known = checkedCount(others, limit: 1 << 62), known > 0, total % known == 0 else {
                    throw refusal(node, "cannot infer -1 in \(target) for \(shape)")
                }
                result[unknown] = total / known
            }
            guard checkedCount(result, limit: 1 << 62) == total else { throw refusal(node, "reshapes \(shape) (\(total) values) to \(result)") }
            return result
        }
    }
}

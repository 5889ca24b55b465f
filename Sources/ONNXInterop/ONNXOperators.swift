import SwiftCaffe

/// Each ONNX operator as the layers that compute it. Shapes are followed as the file is read
/// (ONNX's own rules for each operator), so that `Shape` folds and every layer's keys can be
/// written out; the net planned from the result checks them again.
extension Translator {
    /// The elementwise operators that are one of our neuron layers.
    static let neurons: [String: String] = ["Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "TanH", "Abs": "AbsVal", "Exp": "Exp", "Log": "Log",
                                            "Softplus": "BNLL", "Elu": "ELU", "LeakyRelu": "ReLU"]

    mutating func translate(_ node: Node) throws {
        switch node.opType {
        case "Identity", "Dropout":
            let (blob, shape) = try computed(node, 0)
            alias(node, blob: blob, shape: shape)
        case "Sigmoid" where swishProduct(of: node) != nil:
            // x · sigmoid(x), as PyTorch exports SiLU: one Swish layer, one pass.
            let product = swishProduct(of: node)!
            let (x, shape) = try computed(node, 0)
            fused.insert(product.index)
            emit(product, "Swish", bottoms: [x], tops: [top(product)])
            output(product, blob: product.outputs[0], shape: shape)
        case _ where Self.neurons[node.opType] != nil:
            let (x, shape) = try computed(node, 0)
            var keys: [(String, String)] = []
            if node.opType == "LeakyRelu" { keys = [("negative_slope", number(try float(node, "alpha", 0.01)))] }
            if node.opType == "Elu" { keys = [("alpha", number(try float(node, "alpha", 1)))] }
            let written = inPlaceTop(node)
            emit(node, Self.neurons[node.opType]!, bottoms: [x], tops: [written], keys)
            output(node, blob: written, shape: shape)
        case "Sqrt", "Neg", "Reciprocal":
            let (x, shape) = try computed(node, 0)
            let keys = node.opType == "Sqrt" ? [("power", "0.5")] : node.opType == "Neg" ? [("scale", "-1")] : [("power", "-1")]
            emit(node, "Power", bottoms: [x], tops: [top(node)], keys)
            output(node, blob: node.outputs[0], shape: shape)
        case "Pow":
            let (x, shape) = try computed(node, 0)
            let exponent = try requireConstant(node, 1, "exponent")
            guard exponent.count == 1 else { throw refusal(node, "raises to a power that is not one number: \(exponent.dims)") }
            emit(node, "Power", bottoms: [x], tops: [top(node)], [("power", number(exponent.floats[0]))])
            output(node, blob: node.outputs[0], shape: shape)
        case "PRelu":
            let (x, shape) = try computed(node, 0)
            let slopes = try requireConstant(node, 1, "slopes")
            let channels = shape.count > 1 ? shape[1] : 1
            guard slopes.count == 1 || (slopes.count == channels && broadcastRun(slopes.dims, over: shape) == 1..<2) else {
                throw refusal(node, "has slopes of shape \(slopes.dims) for \(shape); Caffe's PReLU has one per channel or one for all")
            }
            emit(node, "PReLU", bottoms: [x], tops: [top(node)], slopes.count == 1 && channels != 1 ? [("channel_shared", "true")] : [],
                 params: [parameter(slopes.floats, [slopes.count])])
            output(node, blob: node.outputs[0], shape: shape)
        case "Clip":
            let (x, shape) = try computed(node, 0)
            let low = try constant(node, 1)?.floats.first ?? float(node, "min", -.greatestFiniteMagnitude)
            let high = try constant(node, 2)?.floats.first ?? float(node, "max", .greatestFiniteMagnitude)
            if isGiven(node, 1) && constant(node, 1) == nil || isGiven(node, 2) && constant(node, 2) == nil {
                throw refusal(node, "computes its bounds; SwiftCaffe needs them to be constants")
            }
            emit(node, "Clip", bottoms: [x], tops: [top(node)], [("min", number(low)), ("max", number(high))])
            output(node, blob: node.outputs[0], shape: shape)
        case "HardSigmoid", "HardSwish":
            // HardSigmoid(x) = clip(αx + β, 0, 1); HardSwish(x) = x · HardSigmoid(x) with α = 1/6, β = 1/2.
            let (x, shape) = try computed(node, 0)
            let swish = node.opType == "HardSwish"
            let alpha = swish ? 1 / 6 : try float(node, "alpha", 0.2), beta = swish ? 0.5 : try float(node, "beta", 0.5)
            let line = intermediate(node.outputs[0] + "/line")
            emit(node, "Power", bottoms: [x], tops: [line], [("scale", number(alpha)), ("shift", number(beta))], suffix: "/line")
            let gate = swish ? intermediate(node.outputs[0] + "/gate") : top(node)
            emit(node, "Clip", bottoms: [line], tops: [gate], [("min", "0"), ("max", "1")], suffix: swish ? "/gate" : "")
            if swish { emit(node, "Eltwise", bottoms: [x, gate], tops: [top(node)], [("operation", "PROD")]) }
            output(node, blob: node.outputs[0], shape: shape)
        case "Add", "Sub", "Mul", "Div":
            try arithmetic(node)
        case "Sum", "Max", "Mean":
            let parts = try node.inputs.indices.map { try computed(node, $0) }
            guard !parts.isEmpty else { throw refusal(node, "has no inputs") }
            guard parts.allSatisfy({ $0.shape == parts[0].shape }) else { throw refusal(node, "takes tensors of shapes \(parts.map(\.shape)); SwiftCaffe's Eltwise takes one shape") }
            guard parts.count > 1 else {
                alias(node, blob: parts[0].blob, shape: parts[0].shape)
                return
            }
            var keys = [("operation", node.opType == "Max" ? "MAX" : "SUM")]
            if node.opType == "Mean" { keys.append(("coeff", "[" + parts.map { _ in number(1 / Float(parts.count)) }.joined(separator: ", ") + "]")) }
            emit(node, "Eltwise", bottoms: parts.map(\.blob), tops: [top(node)], keys)
            output(node, blob: node.outputs[0], shape: parts[0].shape)
        case "Conv":
            try convolution(node)
        case "Gemm", "MatMul":
            try innerProduct(node)
        case "BatchNormalization":
            let (x, shape) = try computed(node, 0)
            guard try int(node, "training_mode", 0) == 0 else { throw refusal(node, "is in training mode") }
            let tensors = try (1...4).map { try requireConstant(node, $0, ["scale", "bias", "mean", "variance"][$0 - 1]) }
            let channels = shape.count > 1 ? shape[1] : 0
            guard tensors.allSatisfy({ $0.count == channels }) else { throw refusal(node, "has statistics that are not one value per channel of \(shape)") }
            // In place (BatchNorm, then its Scale on the same blob) where nothing else reads the
            // input, so both fold into the convolution before them.
            let written = inPlaceTop(node)
            emit(node, "BatchNorm", bottoms: [x], tops: [written], [("eps", number(try float(node, "epsilon", 1e-5)))],
                 params: [parameter(tensors[2].floats, [channels]), parameter(tensors[3].floats, [channels]), parameter([1], [1])])
            emit(node, "Scale", bottoms: [written], tops: [written], [("bias_term", "true")],
                 params: [parameter(tensors[0].floats, [channels]), parameter(tensors[1].floats, [channels])], suffix: "/scale")
            output(node, blob: written, shape: shape)
        case "MaxPool", "AveragePool":
            try pooling(node)
        case "GlobalAveragePool", "GlobalMaxPool":
            let (x, shape) = try computed(node, 0)
            guard shape.count == 4 else { throw refusal(node, "pools a \(shape.count)-D tensor; SwiftCaffe pools N×C×H×W") }
            emit(node, "Pooling", bottoms: [x], tops: [top(node)], [("pool", node.opType == "GlobalMaxPool" ? "MAX" : "AVE"), ("global_pooling", "true")])
            output(node, blob: node.outputs[0], shape: [shape[0], shape[1], 1, 1])
        case "ReduceMean":
            let (x, shape) = try computed(node, 0)
            let given = try constant(node, 1).map(integers) ?? ints(node, "axes") ?? Array(shape.indices)
            let axes = Set(try given.map { try axis(node, $0, rank: shape.count) })
            guard shape.count == 4, axes == [2, 3] else { throw refusal(node, "averages over axes \(given.sorted()) of \(shape); SwiftCaffe averages over H and W of N×C×H×W") }
            let keep = try int(node, "keepdims", 1) == 1
            let pooled = keep ? top(node) : intermediate(node.outputs[0] + "/pooled")
            emit(node, "Pooling", bottoms: [x], tops: [pooled], [("pool", "AVE"), ("global_pooling", "true")])
            if !keep { emit(node, "Flatten", bottoms: [pooled], tops: [top(node)], suffix: "/flatten") }
            output(node, blob: node.outputs[0], shape: keep ? [shape[0], shape[1], 1, 1] : [shape[0], shape[1]])
        case "Flatten":
            let (x, shape) = try computed(node, 0)
            let result = try reshaped(node, shape, axesOrShape: nil)
            if try axis(node, try int(node, "axis", 1), rank: shape.count + 1) == 1 {
                emit(node, "Flatten", bottoms: [x], tops: [top(node)])
            } else {
                emit(node, "Reshape", bottoms: [x], tops: [top(node)], [("shape", list(result))])
            }
            output(node, blob: node.outputs[0], shape: result)
        case "Reshape":
            let (x, shape) = try computed(node, 0)
            let given = try requireConstant(node, 1, "shape")
            let target = try integers(given)
            let result = try reshaped(node, shape, axesOrShape: target)
            // A first entry that is the batch is written as a copy of the input's (0).
            var written = target
            if given.batch.contains(0), batchLed.contains(node.inputs[0]) { written[0] = 0 }
            emit(node, "Reshape", bottoms: [x], tops: [top(node)], [("shape", list(written))])
            output(node, blob: node.outputs[0], shape: result)
        case "Squeeze", "Unsqueeze":
            let (x, shape) = try computed(node, 0)
            let result = try reshaped(node, shape, axesOrShape: try constant(node, 1).map(integers))
            // The batch dimension stays a copy (0) when the first axis is untouched, so the
            // net keeps taking any batch.
            var dims = result
            if !shape.isEmpty, !result.isEmpty, shape[0] == result[0], try leavesFirstAxis(node, shape) { dims[0] = 0 }
            emit(node, "Reshape", bottoms: [x], tops: [top(node)], [("shape", list(dims))])
            output(node, blob: node.outputs[0], shape: result)
        case "Transpose":
            let (x, shape) = try computed(node, 0)
            let order = try ints(node, "perm") ?? Array(shape.indices.reversed())
            guard order.sorted() == Array(shape.indices) else { throw refusal(node, "permutes with \(order), not an order of the \(shape.count) axes") }
            emit(node, "Permute", bottoms: [x], tops: [top(node)], [("order", list(order))])
            output(node, blob: node.outputs[0], shape: order.map { shape[$0] })
        case "Concat":
            let parts = try node.inputs.indices.map { try computed(node, $0) }
            guard !parts.isEmpty else { throw refusal(node, "has no inputs") }
            let axis = try self.axis(node, try int(node, "axis", 1), rank: parts[0].shape.count)
            let first = parts[0].shape
            let fits = parts.allSatisfy { part in part.shape.count == first.count && first.indices.allSatisfy { i in i == axis || part.shape[i] == first[i] } }
            guard fits else {
                throw refusal(node, "joins tensors of shapes \(parts.map(\.shape)) along axis \(axis)")
            }
            var shape = parts[0].shape
            shape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
            emit(node, "Concat", bottoms: parts.map(\.blob), tops: [top(node)], [("axis", "\(axis)")])
            output(node, blob: node.outputs[0], shape: shape)
        case "Split":
            try split(node)
        case "Pad":
            // Zero padding of H and W, left for the convolution that reads it (timm's "same"
            // padding): no layer of its own.
            let (_, shape) = try computed(node, 0)
            guard try string(node, "mode", "constant") == "constant", shape.count == 4 else { throw refusal(node, "pads other than with a constant, or not N×C×H×W") }
            let pads = try constant(node, 1).map(integers) ?? ints(node, "pads") ?? []
            let value = try constant(node, 2)?.floats.first ?? float(node, "value", 0)
            if isGiven(node, 3) { throw refusal(node, "pads chosen axes (opset 18's axes input)") }
            guard pads.count == 8, pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0, pads.allSatisfy({ (0...(1 << 20)).contains($0) }), value == 0 else {
                throw refusal(node, "pads \(pads) with \(value); SwiftCaffe folds zeros around H and W into the next convolution")
            }
            padded[node.outputs[0]] = (node.inputs[0], [pads[2], pads[3], pads[6], pads[7]])
        case "Slice":
            try slice(node)
        case "Softmax":
            let (x, shape) = try computed(node, 0)
            let axis = try self.axis(node, try int(node, "axis", graph.opset >= 13 ? -1 : 1), rank: shape.count)
            // Before opset 13 Softmax flattened the axes from `axis` on; that is ours only when
            // they are one axis.
            guard graph.opset >= 13 || shape[(axis + 1)...].allSatisfy({ $0 == 1 }) else {
                throw refusal(node, "is opset \(graph.opset)'s Softmax over the axes from \(axis) of \(shape) taken together")
            }
            emit(node, "Softmax", bottoms: [x], tops: [top(node)], [("axis", "\(axis)")])
            output(node, blob: node.outputs[0], shape: shape)
        case "LRN":
            let (x, shape) = try computed(node, 0)
            guard let size = try ints(node, "size")?.first else { throw refusal(node, "gives no size") }
            emit(node, "LRN", bottoms: [x], tops: [top(node)], [("local_size", "\(size)"), ("alpha", number(try float(node, "alpha", 1e-4))),
                                                                 ("beta", number(try float(node, "beta", 0.75))), ("k", number(try float(node, "bias", 1)))])
            output(node, blob: node.outputs[0], shape: shape)
        default:
            throw refusal(node, "is an operator SwiftCaffe does not read",
                          hint: "it reads Conv, Gemm, MatMul, BatchNormalization, Relu, LeakyRelu, PRelu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish, Pow, Add, Sub, Mul, Div, Sum, Max, Mean, "
                              + "MaxPool, AveragePool, GlobalAveragePool, ReduceMean, Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, "
                              + "Softmax, LRN, Pad (into the convolution after it), Dropout, Identity, and folds Constant, Shape, Gather and Cast")
        }
    }

    /// The Mul that is the only reader of this sigmoid and multiplies it by the sigmoid's input.
    func swishProduct(of node: Node) -> Node? {
        guard node.inputs.count == 1, let readers = readers[node.outputs[0]], readers.count == 1, readers[0] >= 0 else { return nil }
        let product = graph.nodes[readers[0]]
        guard product.opType == "Mul", Set(product.inputs) == [node.inputs[0], node.outputs[0]], product.inputs.count == 2 else { return nil }
        return product
    }

    /// Whether a Squeeze or Unsqueeze leaves the first axis where it is.
    func leavesFirstAxis(_ node: Node, _ shape: [Int]) throws -> Bool {
        let given = try constant(node, 1).map(integers) ?? ints(node, "axes") ?? []
        let rank = node.opType == "Unsqueeze" ? shape.count + given.count : shape.count
        return try !given.contains { try axis(node, $0, rank: rank) == 0 }
    }

    // MARK: Convolution, pooling, inner products

    /// ONNX's begin and end pads of a 2-D window (from `pads` or `auto_pad`): [h, w] each.
    func windowPads(_ node: Node, input: [Int], kernel: [Int], strides: [Int], dilations: [Int]) throws -> (begin: [Int], end: [Int]) {
        let autoPad = try string(node, "auto_pad", "NOTSET")
        var pads: [Int]
        switch autoPad {
        case "NOTSET": pads = try ints(node, "pads") ?? [0, 0, 0, 0]
        case "VALID": pads = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            let totals = (0..<2).map { i -> Int in
                let outputs = (input[i] + strides[i] - 1) / strides[i]
                let needed: Int = (outputs - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                return max(needed - input[i], 0)
            }
            let small = totals.map { $0 / 2 }, large = totals.map { $0 - $0 / 2 }
            pads = autoPad == "SAME_UPPER" ? small + large : large + small
        default: throw refusal(node, "has auto_pad '\(autoPad)'")
        }
        guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else { throw refusal(node, "has pads \(pads); SwiftCaffe reads 2-D windows") }
        return ([pads[0], pads[1]], [pads[2], pads[3]])
    }

    mutating func convolution(_ node: Node) throws {
        // A Pad before it adds to its own padding.
        let pad = isGiven(node, 0) ? padded[node.inputs[0]] : nil
        let (x, shape) = try pad.map { try computed(ONNXGraph.Node(name: node.name, opType: node.opType, domain: node.domain, inputs: [$0.source],
                                                                     outputs: node.outputs, attributes: [:], index: node.index), 0) } ?? computed(node, 0)
        let weight = try requireConstant(node, 1, "weights")
        guard shape.count == 4, weight.dims.count == 4 else { throw refusal(node, "is not a 2-D convolution (input \(shape), weights \(weight.dims))") }
        let kernel = try ints(node, "kernel_shape") ?? Array(weight.dims[2...])
        let strides = try ints(node, "strides") ?? [1, 1], dilations = try ints(node, "dilations") ?? [1, 1]
        let groups = try int(node, "group", 1)
        guard kernel.count == 2, strides.count == 2, dilations.count == 2, kernel == Array(weight.dims[2...]),
              strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw refusal(node, "has kernel \(kernel), strides \(strides), dilations \(dilations) for weights \(weight.dims)")
        }
        guard groups > 0, weight.dims[1] * groups == shape[1], weight.dims[0] % groups == 0 else {
            throw refusal(node, "has \(groups) groups of weights \(weight.dims) for \(shape[1]) input channels")
        }
        var (begin, end) = try windowPads(node, input: Array(shape[2...]), kernel: kernel, strides: strides, dilations: dilations)
        if let pad {
            begin = zip(begin, pad.pads[0..<2]).map { $0 + $1 }
            end = zip(end, pad.pads[2..<4]).map { $0 + $1 }
        }
        guard begin == end else {
            throw refusal(node, "pads unevenly (\(begin + end)\(pad == nil ? "" : ", with the Pad before it")); Caffe's windows pad both sides alike",
                          hint: "export with symmetric padding (PyTorch's padding=k//2 gives it)")
        }
        let pads = begin
        let outputs = weight.dims[0]
        let bias: Tensor? = isGiven(node, 2) ? try requireConstant(node, 2, "bias") : nil
        if let bias, bias.count != outputs { throw refusal(node, "has \(bias.count) biases for \(outputs) outputs") }
        let size = (0..<2).map { i -> Int in
            let span: Int = shape[2 + i] + 2 * pads[i] - dilations[i] * (kernel[i] - 1) - 1
            return span / strides[i] + 1
        }
        guard size.allSatisfy({ $0 > 0 }) else { throw refusal(node, "leaves no output for an input of \(shape)") }
        emit(node, "Convolution", bottoms: [x], tops: [top(node)],
             [("num_output", "\(outputs)"), ("kernel_h", "\(kernel[0])"), ("kernel_w", "\(kernel[1])"), ("stride_h", "\(strides[0])"), ("stride_w", "\(strides[1])"),
              ("pad_h", "\(pads[0])"), ("pad_w", "\(pads[1])"), ("dilation", list(dilations)), ("group", "\(groups)"), ("bias_term", bias == nil ? "false" : "true")],
             params: [parameter(weight.floats, weight.dims)] + (bias.map { [parameter($0.floats, [outputs])] } ?? []))
        output(node, blob: node.outputs[0], shape: [shape[0], outputs] + size)
    }

    mutating func pooling(_ node: Node) throws {
        let (x, shape) = try computed(node, 0)
        guard shape.count == 4, let kernel = try ints(node, "kernel_shape"), kernel.count == 2 else { throw refusal(node, "is not a 2-D pooling of N×C×H×W") }
        let strides = try ints(node, "strides") ?? [1, 1], dilations = try ints(node, "dilations") ?? [1, 1]
        guard dilations == [1, 1], strides.count == 2, strides.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 }) else {
            throw refusal(node, "has strides \(strides), dilations \(dilations)")
        }
        guard node.outputs.count == 1 || node.outputs[1].isEmpty else { throw refusal(node, "also gives the indices of the maxima") }
        let (begin, end) = try windowPads(node, input: Array(shape[2...]), kernel: kernel, strides: strides, dilations: dilations)
        let ceil = try int(node, "ceil_mode", 0) == 1, average = node.opType == "AveragePool"
        /// Windows along an axis: ONNX's count from its pads, or Caffe's from `pad` on both
        /// sides; either drops a last window that would start in the end padding.
        func windows(_ i: Int, begin b: Int, end e: Int, roundingUp: Bool) -> Int {
            let span = shape[2 + i] + b + e - kernel[i]
            guard span >= 0 else { return 0 }
            var count = (roundingUp ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1
            if roundingUp, (count - 1) * strides[i] >= shape[2 + i] + b { count -= 1 }
            return count
        }
        let size = (0..<2).map { windows($0, begin: begin[$0], end: end[$0], roundingUp: ceil) }
        guard size.allSatisfy({ $0 > 0 }) else { throw refusal(node, "has a window larger than its padded input \(shape)") }
        // The windows start at the same places when Caffe pads `begin` on both sides; what is
        // left is a rounding that gives ONNX's count (the extra end padding then only lets
        // the last window reach past the image, as Caffe's ceil rounding does).
        guard zip(begin, end).allSatisfy({ $0 <= $1 }),
              let roundsUp = [ceil, !ceil].first(where: { mode in (0..<2).allSatisfy { windows($0, begin: begin[$0], end: begin[$0], roundingUp: mode) == size[$0] } }) else {
            throw refusal(node, "pads \(begin) before and \(end) after, which no Caffe pooling matches")
        }
        // Caffe's average divides by the window clipped to the padded image: ONNX's with
        // count_include_pad (when no window reaches the end padding), and without padding
        // both divide by the window inside the image.
        let includesPadding = try int(node, "count_include_pad", 0) == 1
        if average, begin != [0, 0] || (includesPadding && end != [0, 0]), !includesPadding || roundsUp || begin != end {
            throw refusal(node, "averages over padded windows \(includesPadding ? "that reach past the padding" : "leaving the padding out"), which Caffe's pooling does not",
                          hint: "export with count_include_pad=True and ceil_mode=False, or without padding")
        }
        let pads = begin
        let ceilMode = roundsUp
        emit(node, "Pooling", bottoms: [x], tops: [top(node)],
             [("pool", average ? "AVE" : "MAX"), ("kernel_h", "\(kernel[0])"), ("kernel_w", "\(kernel[1])"), ("stride_h", "\(strides[0])"),
              ("stride_w", "\(strides[1])"), ("pad_h", "\(pads[0])"), ("pad_w", "\(pads[1])"), ("round_mode", ceilMode ? "CEIL" : "FLOOR")])
        output(node, blob: node.outputs[0], shape: [shape[0], shape[1]] + size)
    }

    /// Gemm (A·B′·α + C·β, B a constant) and MatMul by a constant matrix: an InnerProduct whose
    /// weight is stored N×K, as ours is.
    mutating func innerProduct(_ node: Node) throws {
        let (x, shape) = try computed(node, 0)
        let b = try requireConstant(node, 1, "second matrix")
        guard b.dims.count == 2 else { throw refusal(node, "multiplies by a \(b.dims.count)-D constant; SwiftCaffe reads a matrix") }
        let gemm = node.opType == "Gemm"
        if gemm { guard try int(node, "transA", 0) == 0, shape.count == 2 else { throw refusal(node, "transposes or is not 2-D: \(shape)") } }
        let transposed = try gemm && int(node, "transB", 0) == 1
        let (k, n) = transposed ? (b.dims[1], b.dims[0]) : (b.dims[0], b.dims[1])
        guard let last = shape.last, last == k, shape.count >= 2 else { throw refusal(node, "multiplies \(shape) by \(b.dims)") }
        let alpha = gemm ? try float(node, "alpha", 1) : 1, beta = gemm ? try float(node, "beta", 1) : 1
        var weight = [Float](repeating: 0, count: n * k)
        for row in 0..<n { for column in 0..<k { weight[row * k + column] = alpha * (transposed ? b.floats[row * k + column] : b.floats[column * n + row]) } }
        var bias: [Float]?
        if gemm, isGiven(node, 2) {
            let c = try requireConstant(node, 2, "bias")
            guard c.count == n || c.count == 1 else { throw refusal(node, "adds a bias of shape \(c.dims) to \(n) outputs") }
            bias = (0..<n).map { beta * c.floats[c.count == 1 ? 0 : $0] }
        }
        emit(node, "InnerProduct", bottoms: [x], tops: [top(node)],
             [("num_output", "\(n)"), ("axis", "\(shape.count - 1)"), ("bias_term", bias == nil ? "false" : "true")],
             params: [parameter(weight, [n, k])] + (bias.map { [parameter($0, [n])] } ?? []))
        output(node, blob: node.outputs[0], shape: shape.dropLast() + [n])
    }

    // MARK: Arithmetic

    /// Add, Sub, Mul, Div of two computed tensors (the same shape, or one broadcast over a
    /// run of the other's axes) or of a computed tensor and a constant (one value, or values
    /// along a run of axes): Eltwise, Scale, Bias or Power.
    mutating func arithmetic(_ node: Node) throws {
        let op = node.opType
        switch (constant(node, 0), constant(node, 1)) {
        case (nil, nil):
            let a = try computed(node, 0), b = try computed(node, 1)
            if a.shape == b.shape {
                guard op != "Div" else { throw refusal(node, "divides two computed tensors, which no Caffe layer does") }
                let keys: [(String, String)] = op == "Mul" ? [("operation", "PROD")] : op == "Sub" ? [("operation", "SUM"), ("coeff", "[1, -1]")] : [("operation", "SUM")]
                emit(node, "Eltwise", bottoms: [a.blob, b.blob], tops: [top(node)], keys)
                output(node, blob: node.outputs[0], shape: a.shape)
                return
            }
            let smallIsB = b.shape.reduce(1, *) <= a.shape.reduce(1, *)
            let (big, small) = smallIsB ? (a, b) : (b, a)
            guard var run = broadcastRun(small.shape, over: big.shape) else {
                throw refusal(node, "broadcasts \(a.shape) and \(b.shape) other than along a run of axes")
            }
            guard op != "Div" || smallIsB else { throw refusal(node, "divides by a computed tensor, which no Caffe layer does") }
            // Both computed from the batch: the run starts at the batch axis (a squeeze-excitation's
            // N×C×1×1 at batch 1 would otherwise become C and fix the net's batch at 1).
            if small.shape.count == big.shape.count, (0..<run.lowerBound).allSatisfy({ small.shape[$0] == big.shape[$0] }) { run = 0..<run.upperBound }
            // The small one as just the run's axes (the batch copied, 0), negated or inverted where
            // Sub or Div need it.
            var dims = Array(big.shape[run])
            if run.lowerBound == 0 { dims[0] = 0 }
            var factor = intermediate(node.outputs[0] + "/broadcast")
            emit(node, "Reshape", bottoms: [small.blob], tops: [factor], [("shape", list(dims))], suffix: "/broadcast")
            var bigBlob = big.blob
            if op == "Sub" || op == "Div" {
                let flipped = intermediate(node.outputs[0] + "/flipped")
                let negateSmall = smallIsB
                emit(node, "Power", bottoms: [negateSmall ? factor : big.blob], tops: [flipped], op == "Div" ? [("power", "-1")] : [("scale", "-1")], suffix: "/flipped")
                if negateSmall { factor = flipped } else { bigBlob = flipped }
            }
            emit(node, op == "Mul" || op == "Div" ? "Scale" : "Bias", bottoms: [bigBlob, factor], tops: [top(node)], [("axis", "\(run.lowerBound)")])
            output(node, blob: node.outputs[0], shape: big.shape)
        case (let c?, nil), (nil, let c?):
            let constantFirst = constant(node, 0) != nil
            let (x, shape) = try computed(node, constantFirst ? 1 : 0)
            if c.count == 1 {
                let v = c.floats[0]
                let keys: [(String, String)]
                switch (op, constantFirst) {
                case ("Add", _): keys = [("shift", number(v))]
                case ("Sub", false): keys = [("shift", number(-v))]
                case ("Sub", true): keys = [("scale", "-1"), ("shift", number(v))]
                case ("Mul", _): keys = [("scale", number(v))]
                case ("Div", false): keys = [("scale", number(1 / v))]
                default: throw refusal(node, "divides a constant by a computed tensor")
                }
                emit(node, "Power", bottoms: [x], tops: [top(node)], keys)
                output(node, blob: node.outputs[0], shape: shape)
                return
            }
            guard c.dims.count <= shape.count, let run = broadcastRun(c.dims, over: shape) else {
                throw refusal(node, "broadcasts the constant \(c.dims) over \(shape) other than along a run of axes")
            }
            let scaling = op == "Mul" || op == "Div"
            guard !(op == "Div" && constantFirst) else { throw refusal(node, "divides a constant by a computed tensor") }
            var values = c.floats
            if op == "Div" { values = values.map { 1 / $0 } }
            if op == "Sub" && !constantFirst { values = values.map { -$0 } }
            var input = x
            if op == "Sub" && constantFirst {  // c − x = c + (−x)
                input = intermediate(node.outputs[0] + "/negated")
                emit(node, "Power", bottoms: [x], tops: [input], [("scale", "-1")], suffix: "/negated")
            }
            emit(node, scaling ? "Scale" : "Bias", bottoms: [input], tops: [top(node)], [("axis", "\(run.lowerBound)"), ("num_axes", "\(run.count)")],
                 params: [parameter(values, Array(shape[run]))])
            output(node, blob: node.outputs[0], shape: shape)
        default:
            throw refusal(node, "computes with two constants it could not fold")
        }
    }

    /// The run of `big`'s axes along which `small` (aligned to the right, as ONNX broadcasts)
    /// has its sizes, 1 elsewhere; nil if its sizes are not one such run.
    func broadcastRun(_ small: [Int], over big: [Int]) -> Range<Int>? {
        guard small.count <= big.count else { return nil }
        let aligned = [Int](repeating: 1, count: big.count - small.count) + small
        guard let first = aligned.indices.first(where: { aligned[$0] != 1 }) else { return nil }
        let last = aligned.indices.last { aligned[$0] != 1 }!
        let run = first..<(last + 1)
        guard aligned.indices.allSatisfy({ run.contains($0) ? aligned[$0] == big[$0] : aligned[$0] == 1 }) else { return nil }
        return run
    }

    // MARK: Split and Slice

    mutating func split(_ node: Node) throws {
        let (x, shape) = try computed(node, 0)
        let axis = try self.axis(node, try int(node, "axis", 0), rank: shape.count)
        let count = node.outputs.count
        let sizes = try constant(node, 1).map(integers) ?? ints(node, "split")
            ?? (0..<count).map { shape[axis] / count + ($0 < shape[axis] % count ? 1 : 0) }
        guard sizes.count == count, sizes.allSatisfy({ $0 >= 1 && $0 <= shape[axis] }), sizes.reduce(0, +) == shape[axis] else {
            throw refusal(node, "splits \(shape[axis]) along axis \(axis) into \(sizes)")
        }
        let points = sizes.dropLast().reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1) }
        let tops = (0..<count).map { node.outputs[$0].isEmpty ? intermediate(node.outputs[0] + "/unused\($0)") : top(node, $0) }
        if count == 1 {
            alias(node, blob: x, shape: shape)
            return
        }
        emit(node, "Slice", bottoms: [x], tops: tops, [("axis", "\(axis)"), ("slice_point", list(points))])
        for index in 0..<count where !node.outputs[index].isEmpty {
            var part = shape
            part[axis] = sizes[index]
            output(node, index, blob: tops[index], shape: part)
        }
    }

    /// Slice with constant starts and ends and steps of 1: a Slice layer per cut axis, whose
    /// pieces before and after the kept one go unused.
    mutating func slice(_ node: Node) throws {
        var (blob, shape) = try computed(node, 0)
        let starts = try integers(requireConstant(node, 1, "starts")), ends = try integers(requireConstant(node, 2, "ends"))
        let axes = try constant(node, 3).map(integers) ?? Array(0..<starts.count)
        let steps = try constant(node, 4).map(integers) ?? [Int](repeating: 1, count: starts.count)
        // A whole axis walked backwards (how a flip exports): our Flip.
        if steps == [-1], starts.count == 1, ends.count == 1, axes.count == 1 {
            let reversed = try axis(node, axes[0], rank: shape.count), length = shape[reversed]
            guard starts[0] == -1 || starts[0] >= length - 1, ends[0] <= -length - 1 else {
                throw refusal(node, "walks part of axis \(reversed) backwards; SwiftCaffe reverses a whole axis (Flip)")
            }
            emit(node, "Flip", bottoms: [blob], tops: [top(node)], [("axis", "\(reversed)")])
            output(node, blob: node.outputs[0], shape: shape)
            return
        }
        guard starts.count == ends.count, axes.count == starts.count, steps.allSatisfy({ $0 == 1 }) else {
            throw refusal(node, "slices with steps \(steps), or lists of different lengths; SwiftCaffe slices with step 1 or reverses a whole axis")
        }
        // The axes actually cut, each with the part kept.
        let cuts = try axes.indices.compactMap { index -> (axis: Int, range: Range<Int>)? in
            let axis = try self.axis(node, axes[index], rank: shape.count)
            let range = clamped(starts[index], ends[index], count: shape[axis])
            guard !range.isEmpty else { throw refusal(node, "keeps nothing of axis \(axis)") }
            return range == 0..<shape[axis] ? nil : (axis, range)
        }
        for (index, (axis, range)) in cuts.enumerated() {
            let last = index == cuts.count - 1
            let kept = last ? top(node) : intermediate(node.outputs[0] + "/axis\(axis)")
            var tops = [kept], points: [Int] = []
            if range.lowerBound > 0 {
                tops.insert(intermediate(node.outputs[0] + "/before\(axis)"), at: 0)
                points.append(range.lowerBound)
            }
            if range.upperBound < shape[axis] {
                tops.append(intermediate(node.outputs[0] + "/after\(axis)"))
                points.append(range.upperBound)
            }
            emit(node, "Slice", bottoms: [blob], tops: tops, [("axis", "\(axis)"), ("slice_point", list(points))], suffix: last ? "" : "/axis\(axis)")
            blob = kept
            shape[axis] = range.count
        }
        if cuts.isEmpty { alias(node, blob: blob, shape: shape) } else { output(node, blob: blob, shape: shape) }
    }
}

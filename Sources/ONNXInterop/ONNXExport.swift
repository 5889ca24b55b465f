import Foundation
import SwiftCaffe
import SwiftCaffeLayers

/// A net as an ONNX model (opset 17) that ONNX Runtime, TensorRT or OpenVINO can run: the
/// net's deploy form (`DeployNet`: data layers become inputs, losses go, a softmax loss's
/// scores get a `Softmax` named `prob`), every layer the ONNX operators that compute what it
/// computes, the weights as initializers, the batch axis of inputs and outputs
/// (`DeployNet.batchAxes`, the first but for time-major sequences) symbolic ("N").
///
/// A layer with no exact ONNX form is refused at its place in the file, naming it: a
/// pooling whose Caffe rounding ONNX cannot express (an average over a window that Caffe's
/// ceil mode cuts short), a Flatten that stops before the last axis, any type not listed in
/// `export`'s switch and not registered with `register` (a custom layer's own writer).
public enum ONNXExport {
    /// The model's bytes, with `weights` (nil: the fillers' values) loaded by name.
    public static func model(_ spec: NetSpec, weights: String?) throws -> (bytes: [UInt8], notes: [String]) {
        let deploy = try DeployNet(spec)
        let net = try Net(spec: deploy.spec, options: NetOptions(phase: .test, purpose: .asWritten))
        if let weights { try net.loadWeights(from: weights) }
        var exporter = ONNXGraphWriter(net: net, batchAxes: try deploy.batchAxes())
        try exporter.run()
        return (exporter.model.encoded(), deploy.notes)
    }

    /// Writes a layer type the export does not know (a custom layer from another package) as
    /// ONNX operators. Called with the layer, the ONNX values its bottoms hold, and the
    /// writer: add initializers with `constant`, operators with `node`, and name each top's
    /// new value with `define(top.name)`. Throw (`layer.error(...)`) for a configuration that
    /// has no ONNX form. Register before exporting, as the layer itself is registered:
    ///
    ///     ONNXExport.register("ScaledTanh") { layer, inputs, writer in ... }
    public typealias LayerWriter = @Sendable (_ layer: any Layer, _ inputs: [String], _ writer: inout ONNXGraphWriter) throws -> Void

    public static func register(_ type: String, _ write: @escaping LayerWriter) {
        writers.withLock { $0[type] = write }
    }

    static func writer(for type: String) -> LayerWriter? { writers.withLock { $0[type] } }

    private static let writers = Locked<[String: LayerWriter]>([:])
}

/// The ONNX graph being written, and what a registered `ONNXExport.LayerWriter` adds to it.
public struct ONNXGraphWriter {
    let net: Net
    /// Each blob's batch axis (`DeployNet.batchAxes`), symbolic in the graph's inputs and outputs.
    let batchAxes: [String: Int]
    var model: ONNXModel
    /// The ONNX value that holds each blob's current value (in-place layers make new ones).
    var current: [String: String] = [:]
    var used: Set<String> = []

    init(net: Net, batchAxes: [String: Int]) {
        self.net = net
        self.batchAxes = batchAxes
        model = ONNXModel(graphName: net.name)
    }

    /// A fresh ONNX value name for a new value of `blob`, which later layers then read.
    public mutating func define(_ blob: String) -> String {
        var name = blob, number = 1
        while used.contains(name) {
            number += 1
            name = "\(blob)_\(number)"
        }
        used.insert(name)
        current[blob] = name
        return name
    }

    /// A float32 initializer; returns its (unique) value name.
    public mutating func constant(_ name: String, _ shape: [Int], _ values: [Float]) -> String {
        let unique = define(name)
        model.initializers.append(.init(name: unique, shape: shape, floats: values))
        return unique
    }

    /// An int64 list initializer (shapes, axes); returns its value name.
    public mutating func constant(_ name: String, int64s values: [Int]) -> String {
        let unique = define(name)
        model.initializers.append(.init(name: unique, shape: [values.count], int64s: values))
        return unique
    }

    /// An operator of the default domain (opset 17) named `name`, reading `inputs`, writing `output`.
    public mutating func node(_ op: String, _ name: String, _ inputs: [String], _ output: String, _ attributes: [(String, ONNXAttribute)] = []) {
        model.nodes.append(.init(opType: op, name: name, inputs: inputs, outputs: [output], attributes: attributes))
    }

    mutating func run() throws {
        for index in net.layers.indices {
            let layer = net.layers[index], bottoms = net.bottoms[index].map(\.name), tops = net.tops[index]
            if bottoms.isEmpty {
                for top in tops {
                    let name = define(top.name)
                    model.inputs.append(.init(name: name, dimensions: dimensions(of: top)))
                }
                continue
            }
            let inputs = try bottoms.map { bottom in
                guard let value = current[bottom] else { throw layer.error("reads '\(bottom)', which nothing before it wrote") }
                return value
            }
            try export(layer, inputs: inputs, bottoms: net.bottoms[index], tops: tops)
        }
        for name in net.outputNames {
            guard let value = current[name], let blob = net.blobs[name] else { continue }
            model.outputs.append(.init(name: value, dimensions: dimensions(of: blob)))
        }
    }

    /// The blob's shape with its batch axis (if it has one) symbolic.
    func dimensions(of blob: Blob) -> [ONNXModel.Value.Dimension] {
        blob.shape.enumerated().map { $0.offset == batchAxes[blob.name] ? .symbolic("N") : .fixed($0.element) }
    }

    mutating func export(_ layer: any Layer, inputs: [String], bottoms: [Blob], tops: [Blob]) throws {
        let spec = layer.spec, name = layer.name, top = tops[0].name
        func refuse(_ why: String) -> SwiftCaffeError {
            layer.error("cannot be written to ONNX: \(why)", hint: "leave the layer out of the net to export, or export the net without it")
        }
        if let write = ONNXExport.writer(for: spec.type) {
            try write(layer, inputs, &self)
            for top in tops where current[top.name] == nil {
                throw layer.error("its ONNX writer gave no value for the top '\(top.name)'", hint: "call writer.define(top.name) for each top")
            }
            return
        }
        switch spec.type {
        case "Convolution", "Deconvolution":
            // Caffe's deconvolution weights are C_in × C_out/group × kh × kw, as ConvTranspose's.
            let keys = try ConvolutionKeys(spec, dilated: true), w = keys.window
            let group = try spec.int("group", default: 1, in: 1...Int(Int32.max))
            var operands = [inputs[0], constant(name + ".weights", layer.params[0].shape, layer.params[0].dataArray)]
            if keys.biasTerm { operands.append(constant(name + ".bias", layer.params[1].shape, layer.params[1].dataArray)) }
            node(spec.type == "Convolution" ? "Conv" : "ConvTranspose", name, operands, define(top), [
                ("kernel_shape", .ints([w.kernelH, w.kernelW])), ("strides", .ints([w.strideH, w.strideW])),
                ("pads", .ints([w.padH, w.padW, w.padH, w.padW])), ("dilations", .ints([w.dilationH, w.dilationW])), ("group", .int(group)),
            ])
        case "InnerProduct":
            guard try spec.int("axis", default: 1, in: -8...8) == 1 else {
                throw refuse("only an InnerProduct over all axes after the first (axis 1) is a Gemm")
            }
            let transpose = try spec.bool("transpose", default: false)
            let flat = define(top + "_flat")
            node("Flatten", name + "_flatten", [inputs[0]], flat, [("axis", .int(1))])
            var operands = [flat, constant(name + ".weights", layer.params[0].shape, layer.params[0].dataArray)]
            if layer.params.count > 1 { operands.append(constant(name + ".bias", layer.params[1].shape, layer.params[1].dataArray)) }
            node("Gemm", name, operands, define(top), [("transB", .int(transpose ? 0 : 1))])
        case "Pooling":
            try exportPooling(layer, input: inputs[0], bottom: bottoms[0], top: tops[0], refuse: refuse)
        case "ReLU":
            let slope = try spec.float("negative_slope", default: 0)
            if slope == 0 { node("Relu", name, inputs, define(top)) } else { node("LeakyRelu", name, inputs, define(top), [("alpha", .float(slope))]) }
        case "Sigmoid": node("Sigmoid", name, inputs, define(top))
        case "TanH": node("Tanh", name, inputs, define(top))
        case "AbsVal": node("Abs", name, inputs, define(top))
        case "BNLL": node("Softplus", name, inputs, define(top))
        case "ELU": node("Elu", name, inputs, define(top), [("alpha", .float(try spec.float("alpha", default: 1)))])
        case "Dropout", "Split", "StopGradient":
            for blob in tops { current[blob.name] = inputs[0] }
        case "Softmax":
            node("Softmax", name, inputs, define(top), [("axis", .int(try spec.int("axis", default: 1, in: -8...8)))])
        case "LRN":
            guard try spec.choice("norm_region", from: ["ACROSS_CHANNELS", "WITHIN_CHANNEL"], default: "ACROSS_CHANNELS") == "ACROSS_CHANNELS" else {
                throw refuse("ONNX's LRN normalises across channels only, not within a channel")
            }
            node("LRN", name, inputs, define(top), [
                ("size", .int(try spec.int("local_size", default: 5, in: 1...Int(Int32.max)))), ("alpha", .float(try spec.float("alpha", default: 1))),
                ("beta", .float(try spec.float("beta", default: 0.75))), ("bias", .float(try spec.float("k", default: 1))),
            ])
        case "BatchNorm":
            // Caffe keeps running sums and their normaliser; ONNX the mean and variance.
            guard try spec.bool("use_global_stats", default: true) else {
                throw refuse("it normalises with each batch's statistics (use_global_stats: false), which an exported inference net does not have")
            }
            let channels = bottoms[0].shape[1], scale = layer.params[2].data[0]
            let factor: Float = scale == 0 ? 0 : 1 / scale
            let mean = layer.params[0].dataArray.map { $0 * factor }, variance = layer.params[1].dataArray.map { $0 * factor }
            node("BatchNormalization", name, [inputs[0], constant(name + ".gamma", [channels], Array(repeating: 1, count: channels)),
                                              constant(name + ".beta", [channels], Array(repeating: 0, count: channels)),
                                              constant(name + ".mean", [channels], mean), constant(name + ".variance", [channels], variance)],
                 define(top), [("epsilon", .float(try spec.float("eps", default: 1e-5)))])
        case "Scale", "Bias":
            guard inputs.count == 1, bottoms[0].shape.count >= 2, try spec.int("axis", default: 1, in: -8...8) == 1,
                  layer.params.allSatisfy({ $0.count == bottoms[0].shape[1] }) else {
                throw refuse("only a \(spec.type) with one value per channel (axis 1, num_axes 1) and its own parameters is written")
            }
            // Per channel, broadcast over the axes after it: a C×1×...×1 tensor.
            let shape = [bottoms[0].shape[1]] + Array(repeating: 1, count: bottoms[0].shape.count - 2)
            var value = inputs[0]
            var parameters = layer.params.makeIterator()
            if spec.type == "Scale", let factors = parameters.next() {
                let scaled = define(top + (layer.params.count > 1 ? "_scaled" : ""))
                node("Mul", name, [value, constant(name + ".factors", shape, factors.dataArray)], scaled)
                value = scaled
            }
            if let shifts = parameters.next() {
                node("Add", name + "_bias", [value, constant(name + ".shifts", shape, shifts.dataArray)], define(top))
            }
        case "Eltwise":
            let operation = try spec.choice("operation", from: ["SUM", "PROD", "MAX"], default: "SUM")
            let coefficients = try spec.floatList("coeff")
            var operands = inputs
            if operation == "SUM" && !coefficients.isEmpty && coefficients.contains(where: { $0 != 1 }) {
                operands = inputs.enumerated().map { index, value in
                    let weighted = define("\(top)_term\(index)")
                    node("Mul", "\(name)_coeff\(index)", [value, constant("\(name).coeff\(index)", [], [coefficients[index]])], weighted)
                    return weighted
                }
            }
            node(["SUM": "Sum", "PROD": "Mul", "MAX": "Max"][operation]!, name, operands, define(top))
        case "Concat":
            node("Concat", name, inputs, define(top), [("axis", .int(try spec.int("axis", default: 1, in: -8...8)))])
        case "Flatten":
            guard try spec.int("end_axis", default: -1, in: -8...8) == -1 else { throw refuse("ONNX's Flatten always flattens to the last axis") }
            node("Flatten", name, inputs, define(top), [("axis", .int(try spec.int("axis", default: 1, in: -8...8)))])
        case "Reshape":
            // The top's shape with the batch left to ONNX (0 copies the input's dimension).
            let shape = constant(name + ".shape", int64s: [0] + tops[0].shape.dropFirst())
            node("Reshape", name, [inputs[0], shape], define(top))
        case "Clip":
            node("Clip", name, [inputs[0], constant(name + ".min", [], [try spec.float("min")]), constant(name + ".max", [], [try spec.float("max")])], define(top))
        case "Swish":
            // x · σ(βx)
            let beta = try spec.float("beta", default: 1)
            var argument = inputs[0]
            if beta != 1 { argument = affine(name, argument, scale: beta, shift: 0, top: top + "_scaled") }
            let gate = define(top + "_gate")
            node("Sigmoid", name + "_gate", [argument], gate)
            node("Mul", name, [inputs[0], gate], define(top))
        case "Power":
            // (shift + scale·x)^power
            let power = try spec.float("power", default: 1)
            let base = affine(name, inputs[0], scale: try spec.float("scale", default: 1), shift: try spec.float("shift", default: 0),
                              top: power == 1 ? top : top + "_base", last: power == 1)
            if power != 1 { node("Pow", name, [base, constant(name + ".power", [], [power])], define(top)) }
        case "Exp", "Log":
            // Caffe's base (−1 for e) as a factor of ln: base^u = e^(u·ln base), log_base u = ln u / ln base.
            let base = try spec.float("base", default: -1), ln: Float = base == -1 ? 1 : logf(base)
            var scale = try spec.float("scale", default: 1), shift = try spec.float("shift", default: 0)
            if spec.type == "Exp" { (scale, shift) = (scale * ln, shift * ln) }
            let argument = affine(name, inputs[0], scale: scale, shift: shift, top: top + "_argument")
            if spec.type == "Exp" || ln == 1 {
                node(spec.type, name, [argument], define(top))
            } else {
                let natural = define(top + "_ln")
                node("Log", name, [argument], natural)
                node("Mul", name + "_base", [natural, constant(name + ".base", [], [1 / ln])], define(top))
            }
        case "PReLU":
            let slopes = layer.params[0]
            let shape = slopes.count == 1 ? [1] : [slopes.count] + Array(repeating: 1, count: max(bottoms[0].shape.count - 2, 0))
            node("PRelu", name, [inputs[0], constant(name + ".slopes", shape, slopes.dataArray)], define(top))
        case "Permute":
            let given = try spec.intList("order", in: 0...31), rank = bottoms[0].shape.count
            node("Transpose", name, inputs, define(top), [("perm", .ints(given + (0..<rank).filter { !given.contains($0) }))])
        case "Slice":
            let axis = try spec.int("axis", default: 1, in: -8...8)
            let normalized = axis < 0 ? axis + bottoms[0].shape.count : axis
            let sizes = tops.map { $0.shape[normalized] }
            // Equal parts of the batch axis stay equal parts of whatever batch is given
            // (fashion_aug's images and their mirrors); other cuts have fixed sizes.
            let equalBatchParts = batchAxes[bottoms[0].name] == normalized && Set(sizes).count == 1
            let operands = equalBatchParts ? [inputs[0]] : [inputs[0], constant(name + ".split", int64s: sizes)]
            model.nodes.append(.init(opType: "Split", name: name, inputs: operands, outputs: tops.map { define($0.name) }, attributes: [("axis", .int(normalized))]))
        case "Flip":
            // A Slice that walks the axis backwards.
            let rank = bottoms[0].shape.count, given = try spec.int("axis", default: -1, in: -8...8)
            let axis = given < 0 ? given + rank : given
            node("Slice", name, [inputs[0], constant(name + ".starts", int64s: [-1]), constant(name + ".ends", int64s: [Int(Int64.min)]),
                                 constant(name + ".axes", int64s: [axis]), constant(name + ".steps", int64s: [-1])], define(top))
        case "Crop":
            // The second bottom gives only the shape, known here: a Slice of constant bounds.
            let rank = bottoms[0].shape.count, given = try spec.int("axis", default: 2, in: -8...8)
            let axis = given < 0 ? given + rank : given
            let offsets = try spec.intList("offset", in: 0...Int(Int32.max))
            let axes = Array(axis..<rank)
            let starts = axes.indices.map { offsets.isEmpty ? 0 : offsets.count == 1 ? offsets[0] : offsets[$0] }
            let ends = axes.indices.map { starts[$0] + tops[0].shape[axes[$0]] }
            node("Slice", name, [inputs[0], constant(name + ".starts", int64s: starts), constant(name + ".ends", int64s: ends),
                                 constant(name + ".axes", int64s: axes)], define(top))
        case "Tile":
            let rank = bottoms[0].shape.count, given = try spec.int("axis", default: 1, in: -8...8)
            let axis = given < 0 ? given + rank : given, tiles = try spec.int("tiles", in: 1...Int(Int32.max))
            node("Tile", name, [inputs[0], constant(name + ".repeats", int64s: (0..<rank).map { $0 == axis ? tiles : 1 })], define(top))
        case "Reduction":
            // Every axis from `axis` on, times coeff, as the top's shape.
            let rank = bottoms[0].shape.count, given = try spec.int("axis", default: 0, in: -8...8)
            let axis = given < 0 ? given + rank : given, coefficient = try spec.float("coeff", default: 1)
            let operation = try spec.choice("operation", from: ["SUM", "ASUM", "SUMSQ", "MEAN"], default: "SUM")
            let op = ["SUM": "ReduceSum", "ASUM": "ReduceL1", "SUMSQ": "ReduceSumSquare", "MEAN": "ReduceMean"][operation]!
            let reduced = define(top + "_reduced")
            let axes = Array(axis..<rank)
            if op == "ReduceSum" {  // its axes are an input since opset 13
                node(op, name, [inputs[0], constant(name + ".axes", int64s: axes)], reduced, [("keepdims", .int(0))])
            } else {
                node(op, name, [inputs[0]], reduced, [("axes", .ints(axes)), ("keepdims", .int(0))])
            }
            let shaped = coefficient == 1 ? top : top + "_shaped"
            let value = define(shaped)
            node("Reshape", name + "_shape", [reduced, constant(name + ".shape", int64s: tops[0].shape.isEmpty ? [] : [0] + tops[0].shape.dropFirst())], value)
            if coefficient != 1 { node("Mul", name + "_coeff", [value, constant(name + ".coeff", [], [coefficient])], define(top)) }
        case "ArgMax":
            try exportArgMax(layer, input: inputs[0], bottom: bottoms[0], top: tops[0])
        case "Embed":
            // Gather of the table's rows by the indices (floats here, int64 in ONNX).
            let indices = define(top + "_indices")
            node("Cast", name + "_cast", [inputs[0]], indices, [("to", .int(7))])
            let rows = layer.params.count > 1 ? define(top + "_rows") : define(top)
            node("Gather", name, [constant(name + ".weights", layer.params[0].shape, layer.params[0].dataArray), indices], rows, [("axis", .int(0))])
            if layer.params.count > 1 { node("Add", name + "_bias", [rows, constant(name + ".bias", layer.params[1].shape, layer.params[1].dataArray)], define(top)) }
        case "LSTM", "RNN":
            throw refuse("ONNX's \(spec.type) has no continuation markers: Caffe's cont input restarts a sequence anywhere, which ONNX cannot express")
        default:
            throw refuse("ONNX export has no mapping for \(spec.type) layers yet")
        }
    }

    /// Caffe's ArgMax as TopK: along `axis` (that axis becomes top_k long: the indices, or the
    /// values with out_max_val), or over each sample's values flattened, giving N×1×k indices
    /// or N×2×k indices then values. Indices are cast to float, as Caffe gives them.
    mutating func exportArgMax(_ layer: any Layer, input: String, bottom: Blob, top: Blob) throws {
        let spec = layer.spec, name = layer.name
        let k = try spec.int("top_k", default: 1, in: 1...Int(Int32.max)), values = try spec.bool("out_max_val", default: false)
        let given = try spec.optionalInt("axis")
        let rank = bottom.shape.count
        var source = input, axis = 1
        if let given {
            axis = given < 0 ? given + rank : given
        } else {
            source = define(top.name + "_flat")
            node("Flatten", name + "_flatten", [input], source, [("axis", .int(1))])
        }
        let largest = define(top.name + "_values"), where_ = define(top.name + "_where")
        model.nodes.append(.init(opType: "TopK", name: name, inputs: [source, constant(name + ".k", int64s: [k])], outputs: [largest, where_],
                                 attributes: [("axis", .int(axis)), ("largest", .int(1)), ("sorted", .int(1))]))
        if given != nil {
            if values { current[top.name] = largest } else { node("Cast", name + "_cast", [where_], define(top.name), [("to", .int(1))]) }
            return
        }
        let indices = define(top.name + "_indices")
        node("Cast", name + "_cast", [where_], indices, [("to", .int(1))])
        let shape = constant(name + ".shape", int64s: [0, 1, k])
        guard values else {
            node("Reshape", name + "_shape", [indices, shape], define(top.name))
            return
        }
        let (first, second) = (define(top.name + "_index_rows"), define(top.name + "_value_rows"))
        node("Reshape", name + "_shape", [indices, shape], first)
        node("Reshape", name + "_value_shape", [largest, shape], second)
        node("Concat", name + "_join", [first, second], define(top.name), [("axis", .int(1))])
    }

    /// shift + scale·x as the Mul and Add it needs (none when it is x): the value's name.
    /// `last`: the result is the layer's top, named `top`; else an intermediate.
    mutating func affine(_ name: String, _ input: String, scale: Float, shift: Float, top: String, last: Bool = false) -> String {
        var value = input
        if scale != 1 {
            let scaled = define(shift == 0 && last ? top : top + "_times")
            node("Mul", name + "_scale", [value, constant(name + ".scale", [], [scale])], scaled)
            value = scaled
        }
        if shift != 0 {
            let shifted = define(last ? top : top + "_plus")
            node("Add", name + "_shift", [value, constant(name + ".shift", [], [shift])], shifted)
            value = shifted
        }
        if last && value == input { current[top] = input }  // an identity: the top is the input
        return value
    }

    /// Caffe's pooling with its rounding: ONNX's floor mode, with the end padding that gives
    /// Caffe's output size. Exact for MAX (the extra padding never wins); for AVE only when no
    /// extra padding is needed, since ONNX would count it in the divisor.
    mutating func exportPooling(_ layer: any Layer, input: String, bottom: Blob, top: Blob, refuse: (String) -> SwiftCaffeError) throws {
        let spec = layer.spec
        let method = try spec.choice("pool", from: ["MAX", "AVE", "STOCHASTIC"], default: "MAX")
        guard method != "STOCHASTIC" else { throw refuse("ONNX has no stochastic pooling") }
        if try spec.bool("global_pooling", default: false) {
            node(method == "MAX" ? "GlobalMaxPool" : "GlobalAveragePool", layer.name, [input], define(top.name))
            return
        }
        let w = try WindowKeys(spec, kernelRequired: true)
        let (height, width) = (bottom.shape[2], bottom.shape[3]), (outH, outW) = (top.shape[2], top.shape[3])
        let endH = (outH - 1) * w.strideH + w.kernelH - height - w.padH, endW = (outW - 1) * w.strideW + w.kernelW - width - w.padW
        var attributes: [(String, ONNXModel.Attribute)] = [
            ("kernel_shape", .ints([w.kernelH, w.kernelW])), ("strides", .ints([w.strideH, w.strideW])),
            ("pads", .ints([w.padH, w.padW, max(endH, 0), max(endW, 0)])),
        ]
        if method == "AVE" {
            guard endH <= w.padH, endW <= w.padW else {
                throw refuse("Caffe's ceil rounding cuts the last window short here, which ONNX's AveragePool cannot express exactly")
            }
            attributes.append(("count_include_pad", .int(1)))
        }
        node(method == "MAX" ? "MaxPool" : "AveragePool", layer.name, [input], define(top.name), attributes)
    }
}

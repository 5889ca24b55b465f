import SwiftCaffeCore
import SwiftCaffeLayers
import SwiftCaffeSpec

/// A net's deploy form, as Caffe users write `deploy.prototxt`: its test phase with every data
/// layer replaced by an `Input` of the shapes it served, the losses and Accuracy layers gone
/// (with whatever only they read, such as the labels), and a `Softmax` named `prob` on the
/// scores a softmax loss read. The pictures' `scale` and means stay on the Input, where
/// `classify` reads them. What the data layers said that a deploy net has no place for (class
/// names, shuffling, augmentation) is listed in `notes`.
///
/// `convert --deploy` writes it as a prototxt Caffe reads (or as YAML); the model server and the
/// ONNX export take the same inference net.
public struct DeployNet {
    public var spec: NetSpec
    /// What was left out, one sentence each, for the command line to print.
    public var notes: [String]
    /// The blob of the class probabilities it added (`prob`), if the net had a softmax loss.
    public var probabilities: String?

    /// Keys of a data layer that carry over to the Input: how a picture is prepared.
    static let pictureKeys: Set<String> = ["scale", "mean_value", "mean_file"]

    /// The axis along which each input blob holds its samples: the data layer's
    /// (`DataSource.batchAxis`), 0 for an `Input` the file itself declares (Caffe's N×…).
    public var inputBatchAxes: [String: Int] = [:]

    public init(_ spec: NetSpec) throws {
        let plan = try NetPlan(spec: spec, options: NetOptions(phase: .test))
        let layers = spec.layers.filter { $0.phase == nil || $0.phase == .test }
        var notes: [String] = []
        func type(_ layer: LayerSpec) -> (any Layer.Type)? { LayerRegistry.type(named: layer.type) }

        // Drop the losses, Accuracy and sinks, then every layer that reads what is gone.
        var dropped = Set(layers.filter { type($0)?.isLoss == true || $0.type == "Accuracy" || (type($0)?.topCount == 0...0) }.map(\.name))
        let classifier = layers.first { $0.type == "SoftmaxWithLoss" && dropped.contains($0.name) }
        while true {
            let produced = Set(layers.filter { !dropped.contains($0.name) }.flatMap(\.tops))
            let more = layers.filter { !dropped.contains($0.name) && !$0.bottoms.isEmpty && $0.bottoms.contains { !produced.contains($0) } }
            guard !more.isEmpty else { break }
            dropped.formUnion(more.map(\.name))
        }
        let read = Set(layers.filter { !dropped.contains($0.name) }.flatMap(\.bottoms))

        var result: [LayerSpec] = []
        for layer in layers where !dropped.contains(layer.name) {
            guard layer.bottoms.isEmpty, layer.type != "Input" else {
                // A deploy net has one phase: what was test-only is simply there.
                guard layer.phase != nil, let pairs = layer.node.mapping else {
                    result.append(layer)
                    continue
                }
                result.append(try LayerSpec(YAMLNode(.mapping(pairs.filter { $0.key.scalar != "phase" }), at: layer.node.location),
                                            index: result.count, baseDirectory: layer.baseDirectory))
                continue
            }
            // A data layer: an Input of the shapes its kept tops had in the test net.
            let tops = layer.tops.filter(read.contains)
            guard !tops.isEmpty else { continue }
            let source = plan.layers.first { $0.spec.name == layer.name } as? any DataSource
            for top in tops {
                // An axis the top does not have (a data layer from another package that got
                // it wrong) falls back to the first.
                let axis = source?.batchAxis(ofTop: layer.tops.firstIndex(of: top)!) ?? 0
                inputBatchAxes[top] = (plan.blobs[top]?.shape.indices ?? 0..<0).contains(axis) ? axis : 0
            }
            let here = layer.location
            func scalar(_ text: String, quoted: Bool = false) -> YAMLNode { YAMLNode(.scalar(text, quoted: quoted), at: here) }
            var pairs: [(key: YAMLNode, value: YAMLNode)] = [
                (scalar("name"), scalar(layer.name, quoted: true)), (scalar("type"), scalar("Input")),
                (scalar("top"), YAMLNode(.sequence(tops.map { scalar($0, quoted: true) }), at: here)),
                (scalar("shape"), Self.shapeNode(tops.map { plan.blobs[$0]?.shape ?? [] }, at: here)),
            ]
            var left: [String] = []
            for (key, value) in layer.node.mapping ?? [] {
                guard let name = key.scalar, !["name", "type", "top", "bottom", "phase"].contains(name) else { continue }
                if Self.pictureKeys.contains(name) && tops.count == 1 { pairs.append((key, value)) } else { left.append(name) }
            }
            if !left.isEmpty {
                notes.append("\(layer.description) became an Input; left out: \(left.joined(separator: ", ")) (a deploy net has no place for them)")
            }
            result.append(try LayerSpec(YAMLNode(.mapping(pairs), at: here), index: result.count, baseDirectory: layer.baseDirectory))
        }
        if let classifier, let scores = classifier.bottoms.first, read.contains(scores) || result.contains(where: { $0.tops.contains(scores) }) {
            let taken = Set(result.flatMap(\.tops) + result.map(\.name))
            let name = taken.contains("prob") ? "probabilities" : "prob"
            let here = classifier.location
            let softmax = YAMLNode(.mapping([
                (YAMLNode(.scalar("name", quoted: false), at: here), YAMLNode(.scalar(name, quoted: true), at: here)),
                (YAMLNode(.scalar("type", quoted: false), at: here), YAMLNode(.scalar("Softmax", quoted: false), at: here)),
                (YAMLNode(.scalar("bottom", quoted: false), at: here), YAMLNode(.scalar(scores, quoted: true), at: here)),
                (YAMLNode(.scalar("top", quoted: false), at: here), YAMLNode(.scalar(name, quoted: true), at: here)),
            ]), at: here)
            result.append(try LayerSpec(softmax, index: result.count, baseDirectory: classifier.baseDirectory))
            probabilities = name
        }
        let droppedNames = layers.filter { dropped.contains($0.name) }.map(\.name)
        if !droppedNames.isEmpty { notes.append("left out what only training and scoring need: \(droppedNames.joined(separator: ", "))") }
        var deploy = spec
        deploy.layers = result
        deploy.solver = nil
        deploy.solverNode = nil
        self.spec = deploy
        self.notes = notes
        for layer in result where layer.type == "Input" {
            for top in layer.tops where inputBatchAxes[top] == nil { inputBatchAxes[top] = 0 }
        }
    }

    /// The batch axis of every blob of the deploy net that has one: the first axis whose size
    /// changes when every input holds one more sample. (A blob no axis of which changes, such
    /// as a constant, has none.) Found by planning the net twice, so that it holds for any
    /// layer, including one from another package.
    public func batchAxes() throws -> [String: Int] {
        let options = NetOptions(phase: .test)
        let plan = try NetPlan(spec: spec, options: options)
        let grown = try settingInputShapes { top in
            var shape = plan.blobs[top]?.shape ?? []
            if let axis = inputBatchAxes[top], shape.indices.contains(axis) { shape[axis] += 1 }
            return shape
        }
        var axes: [String: Int] = [:]
        guard let grownPlan = try? NetPlan(spec: grown, options: options) else {
            // A net that cannot take one more sample (a Reshape to fixed sizes, as exporters
            // write them for a batch of 1) runs one batch at a time along its first axes.
            for (name, blob) in plan.blobs where !blob.shape.isEmpty { axes[name] = 0 }
            return axes
        }
        for (name, blob) in plan.blobs {
            guard let other = grownPlan.blobs[name]?.shape, other.count == blob.shape.count,
                  let axis = blob.shape.indices.first(where: { blob.shape[$0] != other[$0] }) else { continue }
            axes[name] = axis
        }
        return axes
    }

    /// The deploy net with every input holding `samples` samples along its batch axis.
    public func holding(samples: Int) throws -> NetSpec {
        let plan = try NetPlan(spec: spec, options: NetOptions(phase: .test))
        return try settingInputShapes { top in
            var shape = plan.blobs[top]?.shape ?? []
            if let axis = inputBatchAxes[top], shape.indices.contains(axis) { shape[axis] = samples }
            return shape
        }
    }

    /// The deploy net with each Input's tops given the shapes `shape` answers.
    private func settingInputShapes(_ shape: (String) -> [Int]) throws -> NetSpec {
        var edited = spec
        edited.layers = try spec.layers.enumerated().map { index, layer in
            guard layer.type == "Input", let pairs = layer.node.mapping else { return layer }
            let shapes = layer.tops.map(shape)
            let changed = pairs.map { $0.key.scalar == "shape" ? ($0.key, Self.shapeNode(shapes, at: $0.value.location)) : $0 }
            return try LayerSpec(YAMLNode(.mapping(changed), at: layer.node.location), index: index, baseDirectory: layer.baseDirectory)
        }
        return edited
    }

    /// One shape per top, as the `Input` layer's `shape` key takes them.
    public static func shapeNode(_ shapes: [[Int]], at location: FileLocation) -> YAMLNode {
        YAMLNode(.sequence(shapes.map { shape in
            YAMLNode(.sequence(shape.map { YAMLNode(.scalar("\($0)", quoted: false), at: location) }), at: location)
        }), at: location)
    }
}

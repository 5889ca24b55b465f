import CaffeProto
import Foundation
import SwiftCaffe
import SwiftProtobuf

/// A net file in the other world's form: a prototxt as a YAML net file, a YAML net as a
/// prototxt (and its solver as a solver.prototxt), for `swiftcaffe convert`.
///
/// Paths move with the file: a YAML file's paths are relative to its folder, a prototxt's to
/// the working directory (Caffe's rule), so every path key is rewritten to mean the same file
/// from where the new one is read.
public enum NetFileConversion {
    /// Keys whose values are paths, in any layer or solver.
    static let pathKeys: Set<String> = ["source", "mean_file", "root_folder", "images", "labels", "file_name", "snapshot_prefix"]

    /// The net (with its solver, if it has one) as YAML, paths relative to `folder`.
    public static func yaml(_ spec: NetSpec, pathsRelativeTo folder: String) -> String {
        let start = FileLocation(file: spec.file, line: 1, column: 1)
        func key(_ text: String) -> YAMLNode { YAMLNode(.scalar(text, quoted: false), at: start) }
        var pairs: [(key: YAMLNode, value: YAMLNode)] = [
            (key("name"), YAMLNode(.scalar(spec.name, quoted: true), at: start)),
            (key("layers"), YAMLNode(.sequence(spec.layers.map { rewritingPaths($0.node, from: $0.baseDirectory, to: folder) }), at: start)),
        ]
        if let solver = spec.solverNode {
            pairs.append((key("solver"), rewritingPaths(solver, from: spec.layers.first?.baseDirectory ?? "", to: folder)))
        }
        return "# Converted by swiftcaffe convert from \(spec.file)\n" + YAMLWriter.write(YAMLNode(.mapping(pairs), at: start))
    }

    /// The net as a prototxt, paths relative to `folder` (the working directory Caffe will
    /// run in); and, when the net has a solver, that solver as a solver.prototxt whose `net`
    /// is `netPath`, with the keys Caffe's solver lacks (such as `epochs`) listed apart.
    public static func prototxt(_ spec: NetSpec, pathsRelativeTo folder: String, netPath: String) throws
        -> (net: String, solver: String?, leftOut: [String]) {
        var rewritten = spec
        rewritten.layers = try spec.layers.enumerated().map { index, layer in
            try LayerSpec(rewritingPaths(layer.node, from: layer.baseDirectory, to: folder), index: index, baseDirectory: folder)
        }
        let net = try PrototxtWriter.write(rewritten)
        guard let solverNode = spec.solverNode, let pairs = solverNode.mapping else { return (net, nil, []) }
        let solver = rewritingPaths(solverNode, from: spec.layers.first?.baseDirectory ?? "", to: folder)
        var fields = ["net: \(PrototxtWriter.quoted(netPath))"]
        var leftOut: [String] = []
        let written = Set((solver.mapping ?? pairs).compactMap { $0.key.scalar })
        // Caffe counts iterations, not epochs, and tests `test_iter` batches, not the whole
        // test set: without these it would train 0 iterations and test none.
        let counts = try iterationCounts(spec)
        if !written.contains("max_iter"), let maxIter = counts.maxIter { fields.append("max_iter: \(maxIter)") }
        if !written.contains("test_iter"), let testIter = counts.testIter { fields.append("test_iter: \(testIter)") }
        for (keyNode, value) in solver.mapping ?? pairs {
            guard let key = keyNode.scalar else { continue }
            let values = value.sequence ?? [value]
            let written = values.compactMap { item -> String? in
                guard let text = item.scalar else { return nil }
                return ["\(key): \(text)", "\(key): \"\(text)\""].first { (try? Caffe_SolverParameter(textFormatString: $0)) != nil }
            }
            if written.count == values.count { fields += written } else { leftOut.append(key) }
        }
        let solverText = try Caffe_SolverParameter(textFormatString: fields.joined(separator: "\n")).textFormatString()
        return (net, solverText, leftOut)
    }

    /// The iterations `epochs` stands for (over the train net's first data layer, with
    /// `iter_size`) and the batches that score the whole test set once, as `train` counts them.
    static func iterationCounts(_ spec: NetSpec) throws -> (maxIter: Int?, testIter: Int?) {
        guard let solver = spec.solver else { return (nil, nil) }
        var maxIter: Int?
        if let epochs = solver.epochs, solver.maxIter == nil,
           let data = try NetPlan(spec: spec, options: NetOptions(phase: .train)).dataSources.first {
            maxIter = Int((epochs * Double(data.sampleCount) / Double(data.batchSize * solver.iterSize)).rounded(.up))
        }
        var testIter: Int?
        if solver.testIter == nil, spec.layers.contains(where: { $0.phase == .test }),
           let data = try NetPlan(spec: spec, options: NetOptions(phase: .test)).dataSources.first {
            testIter = (data.sampleCount + data.batchSize - 1) / data.batchSize
        }
        return (maxIter, testIter)
    }

    /// `node` with every path value under a path key (at any depth) made to name the same file
    /// from `folder` rather than from `base`.
    static func rewritingPaths(_ node: YAMLNode, from base: String, to folder: String) -> YAMLNode {
        guard let pairs = node.mapping else { return node }
        return YAMLNode(.mapping(pairs.map { key, value in
            guard let name = key.scalar, pathKeys.contains(name), let path = value.scalar else {
                return (key, value.mapping != nil ? rewritingPaths(value, from: base, to: folder) : value)
            }
            let moved = relativePath(SpecMapping.resolve(path, against: base), from: folder)
            return (key, YAMLNode(.scalar(moved, quoted: true), at: value.location))
        }), at: node.location)
    }

    /// `path` (absolute) as seen from `folder`: relative when they share more than the root.
    static func relativePath(_ path: String, from folder: String) -> String {
        guard path.hasPrefix("/"), !folder.isEmpty else { return path }
        let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        let base = URL(fileURLWithPath: folder).standardizedFileURL.pathComponents
        var common = 0
        while common < min(target.count, base.count) && target[common] == base[common] { common += 1 }
        guard common > 1 else { return path }
        let ups = Array(repeating: "..", count: base.count - common)
        let parts = ups + target[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
}

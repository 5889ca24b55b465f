import Foundation
import SwiftCaffeCore
import SwiftCaffeIO

/// A parsed net file: the net's name, its layers (in file order; the net schedules them by
/// their blobs, not by this order) and the solver, from the file's `solver:` section or from a
/// separate solver file that names its `net:`.
public struct NetSpec {
    public var name: String
    public var layers: [LayerSpec]
    public var solver: SolverSpec?
    /// The solver's keys as written (for `convert`), or nil.
    public var solverNode: YAMLNode?
    /// The file the layers came from.
    public var file: String
    /// A file that holds this net's weights, for a format that carries them with the net (an
    /// ONNX model): a `Net` built from the spec starts from them instead of the fillers.
    public var weightsFile: String?
    /// What the file says that is allowed but ignored (a Caffe `*_param` block a layer does
    /// not read), for the command line to show.
    public var warnings: [String] = []

    /// Loads a net file, or a solver file (a mapping with `net:`) together with the net it names.
    /// `state` (the command line's `--stage`/`--level`) chooses among a Caffe net's layers by
    /// their include/exclude rules.
    public static func load(path: String, state: NetState = NetState()) throws -> NetSpec {
        try load(path: path, state: state, including: [])
    }

    /// `including`: the solver files whose `net:` led here, outermost first, so that a file
    /// that names itself, or a longer cycle of files, is an error rather than endless recursion.
    private static func load(path: String, state: NetState, including: [(file: String, key: FileLocation)]) throws -> NetSpec {
        let identity = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        if let start = including.firstIndex(where: { $0.file == identity }) {
            let chain = (including[start...].map(\.file) + [identity]).map { "'\($0)'" }.joined(separator: " → ")
            throw SwiftCaffeError("'net' leads back to a file already being read: \(chain)", at: including.last!.key,
                                  hint: "point 'net' at the file with the layers")
        }
        if let reader = NetReaders.reader(for: path) { return try reader.read(path, state) }
        let root: YAMLNode
        do {
            root = try YAMLParser.parse(fileAt: path)
        } catch let yamlError {
            // A name that does not say the format, and not YAML: another format's reader may
            // take it. Its error is the one to show when the file has its braces.
            let suffix = URL(fileURLWithPath: path).pathExtension.lowercased()
            guard !["yaml", "yml"].contains(suffix), let other = NetReaders.unnamedFileReader,
                  (try? FileChecks.requireRegularFile(path, what: "the net file")) != nil,  // never open a FIFO twice
                  let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw yamlError }
            do { return try other.read(path, state) } catch { throw text.contains("{") ? error : yamlError }
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let top = try SpecMapping(root, owner: nil, baseDirectory: folder)
        if top.writtenKeys.contains("net") && !top.writtenKeys.contains("layers") {
            let netPath = try top.path("net")
            var spec = try load(path: netPath, state: state, including: including + [(identity, top.node("net")!.location)])
            spec.solver = try SolverSpec(top)
            spec.solverNode = YAMLNode(.mapping(root.mapping?.filter { $0.key.scalar != "net" } ?? []), at: root.location)
            try top.rejectUnknownKeys()
            return spec
        }
        return try NetSpec(top, file: path)
    }

    /// Parses a net from YAML text (used by tests and by programs that build nets in code).
    public static func parse(_ text: String, file: String = "<string>", baseDirectory: String = "") throws -> NetSpec {
        try NetSpec(try SpecMapping(try YAMLParser.parse(text, file: file), owner: nil, baseDirectory: baseDirectory), file: file)
    }

    package init(_ top: SpecMapping, file: String) throws {
        self.file = file
        name = try top.string("name", default: URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent)
        guard let layerList = top.node("layers") else {
            throw top.missing("layers", "list", hint: "list the net's layers under 'layers:', one '- name: ...' entry each")
        }
        guard let items = layerList.sequence else {
            throw SwiftCaffeError("'layers' expects a list of layers, found \(layerList.kindDescription)", at: layerList.location,
                                  hint: "write each layer as a '- name: ...' item")
        }
        if items.isEmpty {
            throw SwiftCaffeError("'layers' is empty", at: layerList.location, hint: "a net needs at least one layer")
        }
        layers = try items.enumerated().map { try LayerSpec($1, index: $0, baseDirectory: top.baseDirectory) }
        solverNode = top.node("solver")
        solver = try top.mapping("solver").map { mapping in
            let solver = try SolverSpec(mapping)
            try mapping.rejectUnknownKeys()
            return solver
        }
        try top.rejectUnknownKeys()

        // A name may repeat across phases (Caffe's LeNet has a train and a test data layer of one name).
        var byName: [String: [LayerSpec]] = [:]
        for layer in layers {
            defer { byName[layer.name, default: []].append(layer) }
            if let first = byName[layer.name]?.first(where: { $0.phase == nil || layer.phase == nil || $0.phase == layer.phase }) {
                throw SwiftCaffeError("duplicate layer name '\(layer.name)' (first used at line \(first.location.line))",
                                      at: layer.location, layer: layer.description,
                                      hint: "give each layer a unique name, or put the two in different phases")
            }
        }
    }
}

extension NetSpec {
    /// This net with `key` set to `value` in every layer `matching` accepts: written where the
    /// key was, or added to the layer. How a command overrides a setting of the file (`jvp
    /// --batch` sets the data layers' `batch_size`); errors in the value still cite the layer.
    public func setting(_ key: String, to value: String, inLayers matching: (LayerSpec) -> Bool) throws -> NetSpec {
        try setting(key, to: { YAMLNode(.scalar(value, quoted: false), at: $0) }, inLayers: matching)
    }

    /// This net with `key` set to the node `value` makes (given where it is written) in every
    /// layer `matching` accepts: a list such as an Input's `shape`.
    public func setting(_ key: String, to value: (FileLocation) -> YAMLNode, inLayers matching: (LayerSpec) -> Bool) throws -> NetSpec {
        var copy = self
        copy.layers = try layers.enumerated().map { index, layer in
            guard matching(layer), let pairs = layer.node.mapping else { return layer }
            let here = layer.node.location
            let replacement = value(pairs.first { $0.key.scalar == key }?.value.location ?? here)
            var edited = pairs.map { $0.key.scalar == key ? ($0.key, replacement) : $0 }
            if !pairs.contains(where: { $0.key.scalar == key }) { edited.append((YAMLNode(.scalar(key, quoted: false), at: here), replacement)) }
            return try LayerSpec(YAMLNode(.mapping(edited), at: here), index: index, baseDirectory: layer.baseDirectory)
        }
        return copy
    }
}

extension NetSpec {
    /// This net with every data layer's `batch_size` divided among `replicas` (`train
    /// --replicas`): the file's batch stays the global batch, and each replica serves an
    /// equal slice of it. A batch that does not divide evenly is an error at its line.
    public func splittingBatches(among replicas: Int) throws -> NetSpec {
        precondition(replicas >= 1, "splitting batches among \(replicas) replicas")
        guard replicas > 1 else { return self }
        var spec = self
        for index in layers.indices {
            let layer = spec.layers[index]
            guard layer.bottoms.isEmpty && layer.has("batch_size") else { continue }
            let batch = try layer.int("batch_size", in: 1...1_000_000)
            guard batch % replicas == 0 else {
                throw layer.error("batch_size \(batch) does not split into \(replicas) equal slices, one per replica", at: layer.node("batch_size"),
                                  hint: "use a batch_size that \(replicas) divides, or a --replicas count that divides \(batch)")
            }
            spec = try spec.setting("batch_size", to: "\(batch / replicas)", inLayers: { $0 === layer })
        }
        return spec
    }
}

import CaffeProto
import Foundation
import SwiftCaffe

/// Plugs Caffe's files into the framework: `.prototxt` nets and solvers wherever a net goes,
/// `.caffemodel` wherever weights go, `.binaryproto` wherever a mean image goes, the LMDB
/// `Data` layer, and the hint for a Caffe layer type SwiftCaffe lacks. The command line
/// calls `register()` before it parses its arguments; a program that uses the library and
/// wants Caffe's files calls it once at start.
public enum CaffeFormats {
    private static let registration: Void = {
        NetReaders.register(NetReaders.Reader(name: "Caffe prototxt", extensions: ["prototxt", "pbtxt"], readsUnnamedFiles: true, read: loadPrototxt))
        // HDF5's exact signature first: the caffemodel's test on a file's first bytes (which
        // has no signature to check) would take an HDF5 file whose name gives no format.
        TensorFiles.register(CaffeHDF5Weights.format)
        TensorFiles.register(CaffeModel.format)
        TensorFiles.register(BinaryProto.format)
        LayerRegistry.register(DataLayer.self, as: "Data")
        LayerRegistry.registerHints(CaffeLayerTypes.hint(forMissing:))
    }()

    /// Registers Caffe's formats and layers (once; later calls do nothing).
    public static func register() { registration }

    /// A Caffe net or solver file. Its paths resolve against the working directory, as Caffe's do.
    @Sendable static func loadPrototxt(path: String, state: NetState) throws -> NetSpec {
        let (bytes, scanned) = try PrototxtReader.scan(fileAt: path)
        let workingDirectory = FileManager.default.currentDirectoryPath
        var warnings: [String] = []
        var spec: NetSpec
        if CaffeSolverTranslation.isSolver(scanned) {
            let fields = try PrototxtReader.check(bytes, fields: scanned, file: path, as: Caffe_SolverParameter.self)
            let (tree, netFile) = try CaffeSolverTranslation.netTree(fields, file: path, workingDirectory: workingDirectory, state: state, warnings: &warnings)
            spec = try NetSpec(try SpecMapping(tree, owner: nil, baseDirectory: workingDirectory), file: netFile)
        } else {
            let fields = try PrototxtReader.check(bytes, fields: scanned, file: path, as: Caffe_NetParameter.self)
            let tree = try CaffeNetTranslation.netTree(fields, file: path, train: state, test: state, warnings: &warnings)
            spec = try NetSpec(try SpecMapping(tree, owner: nil, baseDirectory: workingDirectory), file: path)
        }
        spec.warnings += warnings
        return spec
    }
}

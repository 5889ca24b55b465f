import SwiftCaffe

/// Makes `.onnx` files nets and weights everywhere: `NetReaders` turns a model into a net
/// (whose `weightsFile` is the model itself, so a net built from it starts from its
/// initializers) and `TensorFiles` reads its initializers as weights by our parameter names.
/// The command line calls `register()` before it parses its arguments; a program that uses the
/// library calls it once too.
public enum ONNXFormats {
    private static let registration: Void = {
        NetReaders.register(NetReaders.Reader(name: "ONNX model", extensions: ["onnx"]) { path, _ in try ONNXImport.load(path).spec })
        TensorFiles.register(TensorFileFormat(name: "ONNX model", extensions: ["onnx"], read: { try ONNXImport.load($0).weights }))
    }()

    public static func register() { registration }
}

import CaffeProto
import Foundation
import SwiftCaffe
import SwiftProtobuf

/// Caffe's `.binaryproto`: one serialized `BlobProto`, which is how Caffe stores a data set's
/// mean image (`compute_image_mean`, `transform_param { mean_file }`).
public enum BinaryProto {
    /// `.binaryproto` among the tensor files: one tensor, named `mean`.
    static let format = TensorFileFormat(
        name: "Caffe binaryproto", extensions: ["binaryproto"],
        read: { path in TensorFile(tensors: [("mean", try read(path: path))]) },
        write: { file, path in
            guard file.tensors.count == 1 else {
                throw SwiftCaffeError("a .binaryproto holds one blob; '\(path)' would get \(file.tensors.count)", hint: "write a .safetensors file")
            }
            try AtomicFile.write(try encode(file.tensors[0].tensor), to: path)
        })

    /// The blob's shape (the legacy 4-D fields when `shape` is absent) and values.
    public static func read(path: String) throws -> Safetensors.Tensor {
        try MemoryBudget.require(toRead: path, copies: 3, for: "reading '\(path)'")
        let data = try FileChecks.contents(of: path)
        let proto: Caffe_BlobProto
        do {
            proto = try Caffe_BlobProto(serializedBytes: data)
        } catch {
            throw SwiftCaffeError("'\(path)' is not a Caffe .binaryproto blob: protobuf decoding failed (\(error))",
                                  hint: "make one with 'swiftcaffe compute-image-mean' or Caffe's compute_image_mean")
        }
        return try CaffeModel.tensor(proto, name: "the blob", file: path)
    }

    /// `tensor` as a `BlobProto` with `shape` (not the legacy fields), as Caffe 1.0 writes it.
    public static func encode(_ tensor: Safetensors.Tensor) throws -> [UInt8] {
        var proto = Caffe_BlobProto()
        proto.shape.dim = tensor.shape.map(Int64.init)
        proto.data = tensor.values
        return try proto.serializedBytes()
    }
}

import CaffeProto
import Foundation
import SwiftProtobuf

/// Caffe's `.binaryproto`: one serialized `BlobProto`, which is how Caffe stores a data set's
/// mean image (`compute_image_mean`, `transform_param { mean_file }`).
public enum BinaryProto {
    /// The blob's shape (the legacy 4-D fields when `shape` is absent) and values.
    public static func read(path: String) throws -> Safetensors.Tensor {
        try MemoryBudget.require(toRead: path, copies: 3, for: "reading '\(path)'")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SwiftCaffeError("cannot read '\(path)': no such file or not readable")
        }
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

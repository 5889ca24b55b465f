import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeSpec

/// Caffe's `HDF5Output`: writes its two bottoms to the HDF5 file `file_name` as the datasets
/// `data` and `label`, for reading a net's outputs (features, predictions) with numpy or
/// MATLAB. Each forward replaces the file with the current batch, atomically (a temporary
/// file renamed), so the file always holds one whole batch: the last one. Write errors (a
/// full disk) are thrown by forward, ending the run with a message. In data-parallel training
/// each rank writes its own slice of the batch: rank 0 to `file_name`, rank r to
/// `<name>.rank<r>.h5` beside it.
public final class HDF5OutputLayer: Layer, TangentLayer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 2...2 }
    public static var topCount: ClosedRange<Int> { 0...0 }
    let path: String

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        let named = try spec.path("file_name")
        if context.shard.rank == 0 {
            path = named
        } else {
            let url = URL(fileURLWithPath: named)
            path = url.deletingPathExtension().path + ".rank\(context.shard.rank)." + (url.pathExtension.isEmpty ? "h5" : url.pathExtension)
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom[0].shape.first == bottom[1].shape.first else {
            throw error("data has \(bottom[0].shape.first ?? 0) rows, label \(bottom[1].shape.first ?? 0)", hint: "give both bottoms one row per sample")
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) throws {
        // Its own temporary per process: replicas are threads of one process, ranks are processes.
        let temporary = path + ".partial-\(getpid())"
        try HDF5File.write([("data", Safetensors.Tensor(shape: bottom[0].shape, values: bottom[0].dataArray)),
                            ("label", Safetensors.Tensor(shape: bottom[1].shape, values: bottom[1].dataArray))], to: temporary)
        guard rename(temporary, path) == 0 else { throw SwiftCaffeError("cannot replace '\(path)': \(String(cString: strerror(errno)))") }
    }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}

    /// A sink: it has no tops to carry tangents to.
    public func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?) {}
}

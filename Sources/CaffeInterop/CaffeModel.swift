import CaffeProto
import Foundation
import SwiftCaffe
import SwiftProtobuf

/// Caffe's weights files (`.caffemodel`): a binary `NetParameter` whose layers carry their
/// learnable blobs, decoded and encoded by swift-protobuf.
///
/// Tensors are named as ours are, `<layer>.<index>` in Caffe's blob order, so a caffemodel
/// and a safetensors file are interchangeable wherever weights are read. A blob without
/// `shape` takes its shape from the legacy `num/channels/height/width` fields, always 4-D (an
/// InnerProduct weight O×K reads as 1×1×O×K); the loader accepts shapes that differ only in
/// leading 1s, as Caffe does for these.
public enum CaffeModel {
    /// `.caffemodel` among the tensor files: by extension, and for a name without a known
    /// extension, any file that is not safetensors (whose JSON header starts at byte 8 with '{').
    static let format = TensorFileFormat(
        name: "Caffe model", extensions: ["caffemodel"],
        recognizes: { $0.count >= 9 && $0[8] != UInt8(ascii: "{") },
        read: { path in
            let blobs = try read(path: path)
            return TensorFile(tensors: blobs.sorted { layerAndIndex($0.key) < layerAndIndex($1.key) }.map { ($0.key, $0.value) })
        },
        write: { file, path in
            let bytes = try Safetensors.withBuffers(file.tensors) {
                try encode($0, netName: file.metadata["net"] ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, types: file.layerTypes)
            }
            try AtomicFile.write(bytes, to: path)
        })

    /// `<layer>.<index>` split, for ordering a layer's blobs by index (index -1 for other names).
    static func layerAndIndex(_ name: String) -> (String, Int) {
        guard let dot = name.lastIndex(of: "."), let index = Int(name[name.index(after: dot)...]) else { return (name, -1) }
        return (String(name[..<dot]), index)
    }

    public static func read(path: String) throws -> [String: Safetensors.Tensor] {
        // The file's bytes, swift-protobuf's decoded message, and the tensors copied from it.
        try MemoryBudget.require(toRead: path, copies: 3, for: "reading '\(path)'")
        return try decode(try FileChecks.contents(of: path, what: "the weights file"), file: path)
    }

    /// The blobs of every layer, `<layer>.<index>`. The file is walked layer by layer on the
    /// wire (`ProtobufWire`): `NetParameter.layer` (field 100: name 1, blobs 7) and the old
    /// `layers` (field 2: name 4, blobs 6); only the blobs are decoded, by swift-protobuf, so
    /// the memory taken is about the file's size however many layers it lists.
    public static func decode(_ data: Data, file: String) throws -> [String: Safetensors.Tensor] {
        let wire = ProtobufWire(bytes: [UInt8](data), file: file, kind: "a Caffe model",
                                hint: "pass a .caffemodel written by Caffe or by 'swiftcaffe convert', or a .safetensors file")
        var blobs: [String: Safetensors.Tensor] = [:]
        try wire.forEachField(in: 0..<wire.bytes.count) { number, value in
            guard number == 100 || number == 2, case .bytes(let layer) = value else { return }
            let (nameField, blobsField) = number == 100 ? (1, 7) : (4, 6)
            var name = ""
            var protos: [Range<Int>] = []
            try wire.forEachField(in: layer) { field, value in
                guard case .bytes(let range) = value else { return }
                if field == nameField { name = String(decoding: wire.bytes[range], as: UTF8.self) }
                if field == blobsField { protos.append(range) }
            }
            for (index, range) in protos.enumerated() {
                let tensorName = "\(name).\(index)"
                if blobs[tensorName] != nil {
                    throw SwiftCaffeError("'\(file)' has two layers named '\(name)' with weights",
                                          hint: "weights are matched to layers by name; rename one in the net and convert again")
                }
                let proto: Caffe_BlobProto
                do { proto = try Caffe_BlobProto(serializedBytes: Array(wire.bytes[range])) } catch {
                    throw SwiftCaffeError("'\(file)' is not a Caffe model: the blob '\(tensorName)' does not decode (\(error))",
                                          hint: "pass a .caffemodel written by Caffe or by 'swiftcaffe convert', or a .safetensors file")
                }
                blobs[tensorName] = try tensor(proto, name: tensorName, file: file)
            }
        }
        return blobs
    }

    static func tensor(_ proto: Caffe_BlobProto, name: String, file: String) throws -> Safetensors.Tensor {
        let legacy = !proto.hasShape
        let dims = legacy ? [proto.num, proto.channels, proto.height, proto.width].map(Int64.init) : proto.shape.dim
        guard let count = checkedCount(dims.map { Int(clamping: $0) }), dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw SwiftCaffeError("'\(name)' in '\(file)' has the impossible shape \(dims)", hint: "the file is damaged")
        }
        let values: [Float]
        if !proto.data.isEmpty || proto.doubleData.isEmpty {
            values = proto.data
        } else {
            values = proto.doubleData.map { Float($0) }
        }
        guard values.count == count else {
            throw SwiftCaffeError("'\(name)' in '\(file)' has shape \(dims) but \(values.count) values", hint: "the file is damaged or truncated")
        }
        return Safetensors.Tensor(shape: dims.map { Int($0) }, values: values)
    }

    /// Encodes `tensors` (`<layer>.<index>`, each layer's indices from 0 without gaps) as a
    /// caffemodel: one layer per name, in `layerOrder`, with its `type` when `types` knows it.
    /// Shapes go in `shape`, never the legacy fields, as Caffe 1.0 writes them.
    public static func encode(_ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)], netName: String,
                              types: [String: String] = [:]) throws -> [UInt8] {
        var net = Caffe_NetParameter()
        net.name = netName
        var layerIndex: [String: Int] = [:]
        for tensor in tensors {
            guard let dot = tensor.name.lastIndex(of: "."), let index = Int(tensor.name[tensor.name.index(after: dot)...]) else {
                throw SwiftCaffeError("the tensor '\(tensor.name)' is not named '<layer>.<index>'",
                                      hint: "a caffemodel stores blobs per layer; name tensors as swiftcaffe does, e.g. 'conv1.0'")
            }
            let layer = String(tensor.name[..<dot])
            if layerIndex[layer] == nil {
                var parameter = Caffe_LayerParameter()
                parameter.name = layer
                if let type = types[layer] { parameter.type = type }
                layerIndex[layer] = net.layer.count
                net.layer.append(parameter)
            }
            var blob = Caffe_BlobProto()
            blob.shape.dim = tensor.shape.map(Int64.init)
            blob.data = Array(tensor.values)
            let position = layerIndex[layer]!
            guard index == net.layer[position].blobs.count else {
                throw SwiftCaffeError("the tensor '\(tensor.name)' comes before '\(layer).\(net.layer[position].blobs.count)'",
                                      hint: "a caffemodel stores a layer's blobs in order without gaps")
            }
            net.layer[position].blobs.append(blob)
        }
        return try net.serializedBytes()
    }
}

import Foundation
import SwiftCaffeCore
import SwiftCaffeSpec

/// Creates layers by their Caffe type name.
///
/// Built-in layers are registered on first use; a program that depends on the library calls
/// `register(_:as:)` for its own layers before it builds a net or runs the command line.
public enum LayerRegistry {
    nonisolated(unsafe) private static var factories: [String: any Layer.Type] = builtIns
    /// What to tell a user whose file names a type that is not registered (a Caffe type
    /// SwiftCaffe lacks, say), from the targets that know; nil when they have nothing to say.
    nonisolated(unsafe) private static var hints: [@Sendable (String) -> String?] = []
    private static let lock = NSLock()

    /// Adds a source of hints for unknown type names.
    public static func registerHints(_ hint: @escaping @Sendable (String) -> String?) {
        lock.withLock { hints.append(hint) }
    }

    /// Registers `type` under `name`, replacing any earlier registration of that name.
    public static func register(_ type: any Layer.Type, as name: String) {
        lock.withLock { factories[name] = type }
    }

    public static var typeNames: [String] { lock.withLock { factories.keys.sorted() } }

    public static func type(named name: String) -> (any Layer.Type)? { lock.withLock { factories[name] } }

    /// Builds the layer `spec` describes, or explains which type names exist.
    public static func make(_ spec: LayerSpec, context: LayerContext) throws -> any Layer {
        guard let type = type(named: spec.type) else {
            let suggestion = nearest(spec.type, in: typeNames)
            throw SwiftCaffeError("unknown layer type '\(spec.type)'", at: spec.node("type")?.location ?? spec.location,
                                  layer: spec.description,
                                  hint: lock.withLock { hints }.lazy.compactMap { $0(spec.type) }.first ?? suggestion.map { "did you mean '\($0)'?" }
                                      ?? "known types: \(typeNames.joined(separator: ", "))")
        }
        do {
            return try type.init(spec: spec, context: context)
        } catch let error as SwiftCaffeError {
            throw error.inLayer(spec.description, at: spec.location)
        }
    }

    private static var builtIns: [String: any Layer.Type] { [
        "IDXData": IDXDataLayer.self,
        "ImageData": ImageDataLayer.self,
        "HDF5Data": HDF5DataLayer.self,
        "DummyData": DummyDataLayer.self,
        "HDF5Output": HDF5OutputLayer.self,
        "CSVData": CSVDataLayer.self,
        "TextData": TextDataLayer.self,
        "Input": InputLayer.self,
        "Silence": SilenceLayer.self,
        "InnerProduct": InnerProductLayer.self,
        "Convolution": ConvolutionLayer.self,
        "Pooling": PoolingLayer.self,
        "Deconvolution": DeconvolutionLayer.self,
        "Im2col": Im2colLayer.self,
        "LocallyConnected": LocallyConnectedLayer.self,
        "LRN": LRNLayer.self,
        "ReLU": ElementwiseLayer<ReLUFunction>.self,
        "Sigmoid": ElementwiseLayer<SigmoidFunction>.self,
        "TanH": ElementwiseLayer<TanHFunction>.self,
        "ELU": ElementwiseLayer<ELUFunction>.self,
        "AbsVal": ElementwiseLayer<AbsValFunction>.self,
        "Power": ElementwiseLayer<PowerFunction>.self,
        "Exp": ElementwiseLayer<ExpFunction>.self,
        "Log": ElementwiseLayer<LogFunction>.self,
        "BNLL": ElementwiseLayer<BNLLFunction>.self,
        "Threshold": ElementwiseLayer<ThresholdFunction>.self,
        "Clip": ElementwiseLayer<ClipFunction>.self,
        "Swish": ElementwiseLayer<SwishFunction>.self,
        "Dropout": DropoutLayer.self,
        "PReLU": PReLULayer.self,
        "BatchNorm": BatchNormLayer.self,
        "Scale": ScaleLayer.self,
        "Bias": BiasLayer.self,
        "Softmax": SoftmaxLayer.self,
        "SoftmaxWithLoss": SoftmaxWithLossLayer.self,
        "EuclideanLoss": EuclideanLossLayer.self,
        "SigmoidCrossEntropyLoss": SigmoidCrossEntropyLossLayer.self,
        "HingeLoss": HingeLossLayer.self,
        "InfogainLoss": InfogainLossLayer.self,
        "ContrastiveLoss": ContrastiveLossLayer.self,
        "Accuracy": AccuracyLayer.self,
        "Split": SplitLayer.self,
        "StopGradient": StopGradientLayer.self,
        "Concat": ConcatLayer.self,
        "Slice": SliceLayer.self,
        "Eltwise": EltwiseLayer.self,
        "Flatten": FlattenLayer.self,
        "Reshape": ReshapeLayer.self,
        "Crop": CropLayer.self,
        "Tile": TileLayer.self,
        "Flip": FlipLayer.self,
        "Reduction": ReductionLayer.self,
        "ArgMax": ArgMaxLayer.self,
        "Embed": EmbedLayer.self,
        "Permute": PermuteLayer.self,
        "RNN": RecurrentLayer<RNNCell>.self,
        "LSTM": RecurrentLayer<LSTMCell>.self,
        "LSTMUnit": LSTMUnitLayer.self,
    ] }
}

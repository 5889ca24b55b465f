
/// The layer types of BVLC Caffe's registry: which of ours a Caffe file may hold, and what to
/// tell a user whose Caffe net names one SwiftCaffe does not have.
enum CaffeLayerTypes {
    static let all: Set<String> = [
        "AbsVal", "Accuracy", "ArgMax", "BatchNorm", "BatchReindex", "Bias", "BNLL", "Clip", "Concat", "ContrastiveLoss",
        "Convolution", "Crop", "Data", "Deconvolution", "Dropout", "DummyData", "Eltwise", "ELU", "Embed", "EuclideanLoss", "Exp",
        "Filter", "Flatten", "HDF5Data", "HDF5Output", "HingeLoss", "Im2col", "ImageData", "InfogainLoss", "InnerProduct", "Input",
        "Log", "LRN", "LSTM", "LSTMUnit", "MemoryData", "MultinomialLogisticLoss", "MVN", "Parameter", "Pooling", "Power", "PReLU",
        "Python", "Reduction", "ReLU", "Reshape", "RNN", "Scale", "Sigmoid", "SigmoidCrossEntropyLoss", "Silence", "Slice",
        "Softmax", "SoftmaxWithLoss", "Split", "SPP", "Swish", "TanH", "Threshold", "Tile", "WindowData",
    ]

    /// The hint for a Caffe type that is not registered here.
    @Sendable static func hint(forMissing type: String) -> String? {
        switch type {
        case "Python":
            return "Python layers run Python code inside Caffe; write the layer as a Swift class and register it (docs/extending.md)"
        case "MemoryData":
            return "feed arrays through an Input layer instead"
        case _ where all.contains(type):
            return "\(type) is a Caffe layer SwiftCaffe does not have yet; remove it or replace it with layers it has"
        default:
            return nil
        }
    }
}

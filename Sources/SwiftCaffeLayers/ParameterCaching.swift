
/// A layer that, in an inference net (`LayerContext.inference`), keeps its parameters in
/// another form between forwards: the convolution engine's blocked layout, with a folded
/// BatchNorm multiplied in. Reordering ResNet-50's weights costs more than a forward at
/// batch 1, so it is done once, not per call.
///
/// The net calls `parametersChanged()` wherever it changes parameters itself (loading
/// weights, the start of each test pass, whose net shares the training net's weights). Code
/// that writes an inference net's parameter blobs directly must call `Net.parametersChanged()`.
public protocol ParameterCaching: Layer {
    /// The next forward rereads the parameters.
    func parametersChanged()
}


/// A layer that can apply a ReLU to its first top as it writes it, saving the ReLU's own pass
/// over the blob (Caffe writes `conv → relu` and `batchnorm → scale → relu` in place
/// everywhere: AlexNet, GoogLeNet, VGG, ResNet).
package protocol ReLUFusing: Layer {
    /// From now on, forward writes relu(value), and in a `training` net backward takes the
    /// gradient back through it; tangents are no longer valid. Refuses (false) when it
    /// already applies one (two leaky ReLUs are not one), or cannot in a net that trains.
    func fuse(_ relu: ReLUFunction, training: Bool) -> Bool
}

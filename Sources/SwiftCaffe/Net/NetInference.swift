/// A layer that can apply a ReLU to its first top as it writes it, saving the ReLU's own pass
/// over the blob (Caffe writes `conv → relu` in place everywhere: AlexNet, GoogLeNet, VGG).
protocol ReLUFusing: Layer {
    /// From now on, forward writes relu(value); tangents and backward are no longer valid.
    func fuse(_ relu: ReLUFunction)
}

extension Net {
    /// Prepares a net that will only run forward (testing, classifying, timing inference):
    /// every in-place ReLU right after a layer that writes its blob and can apply it
    /// (`ReLUFusing`) is folded into that layer and leaves the schedule. The values are
    /// bit-identical (the same comparison on the same floats); one pass over each such blob is
    /// saved. Returns the folded pairs, `(relu, into)`, for `time` to say so. After it, the
    /// net must not run backward or forward mode.
    @discardableResult
    public func fuseForInference() -> [(relu: String, into: String)] {
        var fused: [(relu: String, into: String)] = []
        var index = 1
        while index < layers.count {
            guard let relu = layers[index] as? ElementwiseLayer<ReLUFunction>, bottoms[index].count == 1, tops[index][0] === bottoms[index][0],
                  let producer = layers[index - 1] as? any ReLUFusing, tops[index - 1].first === bottoms[index][0] else {
                index += 1
                continue
            }
            producer.fuse(relu.function)
            fused.append((relu.name, producer.name))
            removeLayer(at: index)
        }
        inferenceOnly = inferenceOnly || !fused.isEmpty
        return fused
    }
}

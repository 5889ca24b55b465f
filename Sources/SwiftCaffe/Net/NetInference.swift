/// A layer that can apply a ReLU to its first top as it writes it, saving the ReLU's own pass
/// over the blob (Caffe writes `conv → relu` and `batchnorm → scale → relu` in place
/// everywhere: AlexNet, GoogLeNet, VGG, ResNet).
protocol ReLUFusing: Layer {
    /// From now on, forward writes relu(value); tangents and backward are no longer valid.
    /// Refuses (false) when it already applies one: two leaky ReLUs are not one.
    func fuse(_ relu: ReLUFunction) -> Bool
}

extension Net {
    /// Prepares a net built `forInference` (testing, classifying, timing inference) by
    /// folding in-place layers into the layer that wrote their blob last before them (other
    /// branches may run in between), so the blob is written once instead of two or three times:
    /// - a Scale after a BatchNorm with global statistics (the BatchNorm applies it), and
    /// - a ReLU after a layer that can apply it (`ReLUFusing`: Convolution, BatchNorm, Eltwise);
    /// - then a BatchNorm with global statistics (and what it folded) after a Convolution;
    /// - every Split, whose readers then read its bottom (pairs `(split, blob)`);
    /// - and max pooling stops recording where each maximum was.
    ///
    /// The operations and their order are the layers' own, so the values are bit-identical.
    /// Returns the folded pairs, `(layer, into)`, for `time` to say so. It runs before the net
    /// takes its memory, so the folded blobs (the Splits' copies) never take any.
    func fuseForInference() -> [(layer: String, into: String)] {
        var fused: [(layer: String, into: String)] = []
        var index = 1
        while index < layers.count {
            // The layer that wrote the blob last before this in-place one. Every other reader
            // of the blob reads its final value, so it runs later: nobody sees the value between.
            let blob = bottoms[index].first
            let inPlace = bottoms[index].count == 1 && tops[index].count == 1 && tops[index][0] === blob
            guard inPlace, let writer = (0..<index).last(where: { tops[$0].contains { $0 === blob } }), tops[writer][0] === blob else {
                index += 1
                continue
            }
            if let scale = layers[index] as? ScaleLayer, let normalization = layers[writer] as? BatchNormLayer, normalization.fuse(scale) {
                fused.append((scale.name, normalization.name))
                removeLayer(at: index)
                continue
            }
            guard let relu = layers[index] as? ElementwiseLayer<ReLUFunction>, let producer = layers[writer] as? any ReLUFusing,
                  producer.fuse(relu.function) else {
                index += 1
                continue
            }
            fused.append((relu.name, producer.name))
            removeLayer(at: index)
        }
        // Then a BatchNorm (with whatever it folded) into the Convolution that wrote its blob.
        index = 1
        while index < layers.count {
            let blob = bottoms[index].first
            guard let normalization = layers[index] as? BatchNormLayer, tops[index].first === blob,
                  let writer = (0..<index).last(where: { tops[$0].contains { $0 === blob } }), tops[writer][0] === blob,
                  let convolution = layers[writer] as? ConvolutionLayer, convolution.fuse(normalization) else {
                index += 1
                continue
            }
            fused.append((normalization.name, convolution.name))
            removeLayer(at: index)
        }

        // A Split only copies its bottom for readers whose gradients backward sums: without
        // backward they can read the bottom itself, and the copies' memory goes.
        while let index = layers.firstIndex(where: { $0 is SplitLayer }) {
            let source = bottoms[index][0], copies = tops[index]
            rewireReaders(of: copies, to: source)
            fused.append((layers[index].name, source.name))
            removeLayer(at: index)
        }
        for case let pooling as PoolingLayer in layers { pooling.keepOnlyValues() }
        markInferenceOnly()
        return fused
    }
}

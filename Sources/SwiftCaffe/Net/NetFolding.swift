/// What a net is built for, which decides how far it may rewrite its schedule for speed.
public enum NetPurpose: Sendable {
    /// Every layer runs as written: for gradient checks, forward mode, and looking at every blob.
    case asWritten
    /// Training: a BatchNorm with batch statistics applies the Scale and the ReLU written in
    /// place after it, forward and backward, in one pass each way instead of three.
    case training
    /// Forward only (testing, classifying, timing inference): everything
    /// `foldInPlaceLayers` can fold, blobs take turns in shared memory (`BlobSharing`), and
    /// backward is refused.
    case inference
}

/// A layer that can apply a ReLU to its first top as it writes it, saving the ReLU's own pass
/// over the blob (Caffe writes `conv → relu` and `batchnorm → scale → relu` in place
/// everywhere: AlexNet, GoogLeNet, VGG, ResNet).
protocol ReLUFusing: Layer {
    /// From now on, forward writes relu(value), and in a `training` net backward takes the
    /// gradient back through it; tangents are no longer valid. Refuses (false) when it
    /// already applies one (two leaky ReLUs are not one), or cannot in a net that trains.
    func fuse(_ relu: ReLUFunction, training: Bool) -> Bool
}

extension Net {
    /// Prepares a net built for `purpose` by folding in-place layers into the layer that wrote
    /// their blob last before them (other branches may run in between), so the blob is written
    /// once instead of two or three times. For training and inference:
    /// - a Scale after a BatchNorm (the BatchNorm applies it), and
    /// - a ReLU after a layer that can apply it (`ReLUFusing`: a BatchNorm; for inference
    ///   also a Convolution, an InnerProduct or an Eltwise);
    ///
    /// a BatchNorm that trains must use batch statistics (see `BatchNormLayer.fuse`). For
    /// inference only:
    /// - then a BatchNorm with global statistics (and what it folded) after a Convolution;
    /// - every Split, whose readers then read its bottom (pairs `(split, blob)`);
    /// - and max pooling stops recording where each maximum was.
    ///
    /// Forward keeps the layers' own operations and their order, so its values are
    /// bit-identical; a folded backward sums in another order. The folded layers move to
    /// `foldedLayers`, which keeps their parameters reachable by name. It runs before the net
    /// takes its memory, so the folded blobs (the Splits' copies) never take any.
    func foldInPlaceLayers(for purpose: NetPurpose) {
        guard purpose != .asWritten else { return }
        let training = purpose == .training
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
            if let scale = layers[index] as? ScaleLayer, let normalization = layers[writer] as? BatchNormLayer, normalization.fuse(scale, training: training) {
                removeLayer(at: index, foldedInto: normalization.name)
                continue
            }
            guard let relu = layers[index] as? ElementwiseLayer<ReLUFunction>, let producer = layers[writer] as? any ReLUFusing,
                  producer.fuse(relu.function, training: training) else {
                index += 1
                continue
            }
            removeLayer(at: index, foldedInto: producer.name)
        }
        guard !training else { return }
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
            removeLayer(at: index, foldedInto: convolution.name)
        }

        // A Split only copies its bottom for readers whose gradients backward sums: without
        // backward they can read the bottom itself, and the copies' memory goes.
        while let index = layers.firstIndex(where: { $0 is SplitLayer }) {
            let source = bottoms[index][0], copies = tops[index]
            rewireReaders(of: copies, to: source)
            removeLayer(at: index, foldedInto: source.name)
        }
        for case let pooling as PoolingLayer in layers { pooling.keepOnlyValues() }
        markInferenceOnly()
    }
}

import SwiftCaffeLayers

/// The folding pass over a planned net: in-place layers done by the layer before them.
enum InPlaceFolding {
    /// Prepares a plan built for `purpose` by folding in-place layers into the layer that wrote
    /// their blob last before them (other branches may run in between), so the blob is written
    /// once instead of two or three times. For training and inference:
    /// - a Scale after a BatchNorm (the BatchNorm applies it), and
    /// - a ReLU after a layer that can apply it (`ReLUFusing`: a BatchNorm; for inference
    ///   also a Convolution, an InnerProduct or an Eltwise);
    ///
    /// a BatchNorm that trains must use batch statistics (see `BatchNormLayer.fuse`). For
    /// inference only:
    /// - then a BatchNorm with global statistics (and what it folded) after a Convolution;
    /// - then a Clip (a ReLU6) after a Convolution (`foldClips`);
    /// - every Split, whose readers then read its bottom (pairs `(split, blob)`);
    /// - and max pooling stops recording where each maximum was.
    ///
    /// Forward keeps the layers' own operations and their order, so its values are
    /// bit-identical; a folded backward sums in another order. The folded layers move to
    /// `folded`, which keeps their parameters reachable by name. It runs before the net
    /// takes its memory, so the folded blobs (the Splits' copies) never take any.
    static func fold(_ plan: inout NetPlan, for purpose: NetPurpose) {
        guard purpose != .asWritten else { return }
        let training = purpose == .training
        var index = 1
        while index < plan.layers.count {
            // The layer that wrote the blob last before this in-place one. Every other reader
            // of the blob reads its final value, so it runs later: nobody sees the value between.
            let blob = plan.bottoms[index].first
            let inPlace = plan.bottoms[index].count == 1 && plan.tops[index].count == 1 && plan.tops[index][0] === blob
            guard inPlace, let writer = (0..<index).last(where: { plan.tops[$0].contains { $0 === blob } }), plan.tops[writer][0] === blob else {
                index += 1
                continue
            }
            if let scale = plan.layers[index] as? ScaleLayer, let normalization = plan.layers[writer] as? BatchNormLayer, normalization.fuse(scale, training: training) {
                plan.removeLayer(at: index, foldedInto: normalization.name)
                continue
            }
            guard let relu = plan.layers[index] as? ElementwiseLayer<ReLUFunction>, let producer = plan.layers[writer] as? any ReLUFusing,
                  producer.fuse(relu.function, training: training) else {
                index += 1
                continue
            }
            plan.removeLayer(at: index, foldedInto: producer.name)
        }
        guard !training else { return }
        // Then a BatchNorm (with whatever it folded) into the Convolution that wrote its blob.
        index = 1
        while index < plan.layers.count {
            let blob = plan.bottoms[index].first
            guard let normalization = plan.layers[index] as? BatchNormLayer, plan.tops[index].first === blob,
                  let writer = (0..<index).last(where: { plan.tops[$0].contains { $0 === blob } }), plan.tops[writer][0] === blob,
                  let convolution = plan.layers[writer] as? ConvolutionLayer, convolution.fuse(normalization) else {
                index += 1
                continue
            }
            plan.removeLayer(at: index, foldedInto: convolution.name)
        }
        foldClips(&plan)

        // A Split only copies its bottom for readers whose gradients backward sums: without
        // backward they can read the bottom itself, and the copies' memory goes.
        while let index = plan.layers.firstIndex(where: { $0 is SplitLayer }) {
            let source = plan.bottoms[index][0], copies = plan.tops[index]
            plan.rewireReaders(of: copies, to: source)
            plan.removeLayer(at: index, foldedInto: source.name)
        }
        for case let pooling as PoolingLayer in plan.layers { pooling.keepOnlyValues() }
    }

    /// Folds a Clip (MobileNetV2's ReLU6) into the Convolution that writes its bottom, which
    /// then writes the Clip's top itself. A Clip is never in place here: its backward needs its
    /// input, so the schedule gives it a bottom of its own (`NetSchedule`). The fold needs what
    /// working in place would: the Clip alone reads that bottom, no one outside the net reads
    /// it, and no layer before the Clip writes its top.
    private static func foldClips(_ plan: inout NetPlan) {
        let outside = plan.blobsReadOutside(keeping: plan.options.keeping)
        var index = 0
        while index < plan.layers.count {
            guard let clip = plan.layers[index] as? ElementwiseLayer<ClipFunction>, let source = plan.bottoms[index].first,
                  let top = plan.tops[index].first, source !== top, !outside.contains(source.name),
                  plan.layers.indices.filter({ plan.bottoms[$0].contains { $0 === source } }) == [index],
                  !(0..<index).contains(where: { plan.tops[$0].contains { $0 === top } }),
                  let writer = (0..<index).last(where: { plan.tops[$0].contains { $0 === source } }), plan.tops[writer].count == 1,
                  let convolution = plan.layers[writer] as? ConvolutionLayer, convolution.fuse(clip.function) else {
                index += 1
                continue
            }
            plan.redirectTop(of: writer, to: top)
            plan.removeLayer(at: index, foldedInto: convolution.name)
        }
    }
}

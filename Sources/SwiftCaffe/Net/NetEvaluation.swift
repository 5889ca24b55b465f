/// The averaged scalar outputs of a pass over the test set, and a confusion matrix where
/// the net has a classifier (an Accuracy or softmax-loss layer fed by labels).
public struct TestResult {
    public var iteration: Int
    /// Each scalar output (loss, accuracy, ...) averaged over the batches.
    public var outputs: [(name: String, value: Float)]
    public var batches: Int
    public var images: Int
    /// What `images` counts: the data source's `sampleNoun`.
    public var sampleNoun = "images"
    /// confusion[truth][prediction] counts; nil when the net has no classifier.
    public var confusion: [[Int]]?
    /// Class names from the data layer's `label_names`, else the label numbers.
    public var classNames: [String] = []

    public var accuracy: Float? { outputs.first { $0.name.lowercased().contains("accuracy") }?.value }
    public var loss: Float? { outputs.first { $0.name.lowercased().contains("loss") }?.value }

    /// Per-class accuracy (recall): the diagonal over each row's total.
    public var perClassAccuracy: [Float]? {
        confusion?.enumerated().map { row, counts in
            let total = counts.reduce(0, +)
            return total == 0 ? 0 : Float(counts[row]) / Float(total)
        }
    }
}

extension Net {
    /// Runs forward over the data set (or `iterations` batches), averages the scalar outputs
    /// and counts predictions against labels. `iteration` labels the result (the training
    /// iteration the weights are from). Used by `swiftcaffe test` and by tests during training.
    ///
    /// With `sync` (data-parallel training, the net built with this rank's `DataShard`) every
    /// rank scores its share of the batches and the sums are combined, so all ranks return
    /// the score of the whole test set; `iterations` then counts global batches.
    public func evaluate(iterations: Int? = nil, iteration: Int = 0, sync: GradientSync? = nil) throws -> TestResult {
        let net = self
        let source = net.dataSources.first
        source?.rewind()
        let ranks = sync?.size ?? 1
        let batch = (source?.batchSize ?? 1) * ranks
        let batches = iterations.map { ($0 + ranks - 1) / ranks } ?? source.map { ($0.sampleCount + batch - 1) / batch } ?? 1
        // The classifier whose predictions we count: prefer Accuracy, else any label consumer.
        let consumers = net.layers.indices.filter { net.layers[$0] is any LabelConsumer && net.bottoms[$0].count > 1 }
        let classifier = consumers.first { net.layers[$0] is AccuracyLayer } ?? consumers.first
        var confusion: [[Int]]?
        var sums: [Double] = []
        var names: [String] = []
        for _ in 0..<batches {
            try net.forward()
            let outputs = net.scalarOutputs
            if sums.isEmpty {
                names = outputs.map(\.name)
                sums = [Double](repeating: 0, count: outputs.count)
            }
            for (index, output) in outputs.enumerated() { sums[index] += Double(output.value) }
            if let classifier, let consumer = net.layers[classifier] as? any LabelConsumer {
                count(scores: net.bottoms[classifier][0], labels: net.bottoms[classifier][1], classes: consumer.classCount,
                      ignore: consumer.ignoreLabel, into: &confusion)
            }
        }
        if let sync {
            let counts = confusion?.flatMap { $0 } ?? []
            var totals = sums + counts.map(Double.init)
            try sync.sum(&totals)
            sums = Array(totals[..<sums.count])
            if let classes = confusion?.count {
                confusion = (0..<classes).map { row in (0..<classes).map { Int(totals[sums.count + row * classes + $0]) } }
            }
        }
        var result = TestResult(iteration: iteration, outputs: zip(names, sums).map { ($0, Float($1 / Double(batches * ranks))) },
                                batches: batches * ranks, images: batches * batch, confusion: confusion)
        result.sampleNoun = source?.sampleNoun ?? "images"
        if let confusion {
            let given = source?.labelNames ?? []
            result.classNames = confusion.indices.map { $0 < given.count ? given[$0] : "\($0)" }
        }
        return result
    }

    /// Adds one batch's argmax predictions (classes along axis 1) to the confusion matrix.
    private func count(scores: Blob, labels: Blob, classes: Int, ignore: Int?, into confusion: inout [[Int]]?) {
        guard scores.shape.count >= 2, scores.shape[1] == classes else { return }
        let outer = scores.shape[0], inner = scores.count / (outer * classes)
        guard labels.count == outer * inner else { return }
        if confusion == nil { confusion = Array(repeating: Array(repeating: 0, count: classes), count: classes) }
        for o in 0..<outer {
            for i in 0..<inner {
                let label = Int(labels.data[o * inner + i])
                guard label != ignore, (0..<classes).contains(label) else { continue }
                var best = 0
                for c in 1..<classes where scores.data[(o * classes + c) * inner + i] > scores.data[(o * classes + best) * inner + i] { best = c }
                confusion![label][best] += 1
            }
        }
    }
}

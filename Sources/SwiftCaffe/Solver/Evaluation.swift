import SwiftCaffeCore

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

/// Caffe's `Solver::Test`: scores a test net over its data set.
public enum Evaluation {
    /// Runs forward over the data set (or `iterations` batches), averages the scalar outputs
    /// and counts the classifier's predictions against labels. `iteration` labels the result
    /// (the training iteration the weights are from). Used by `swiftcaffe test` and by the
    /// trainer's tests.
    ///
    /// In a group of several ranks (the net built with this rank's `DataShard`) every rank
    /// scores its share of the batches and the sums are combined, so all ranks return the
    /// score of the whole test set; `iterations` then counts global batches.
    public static func run(_ net: Net, iterations: Int? = nil, iteration: Int = 0, group: any ProcessGroup = SingleProcess()) throws -> TestResult {
        let source = net.dataSources.first
        source?.rewind()
        // A test net shares the training net's weights, which moved since the last pass.
        net.parametersChanged()
        // In batches of this rank's size, as one process runs them: the whole data set once
        // (the last batch wrapping around when the batch does not divide it), or `iterations`.
        // Rank r serves batches r, r + ranks, ..., so every one is scored once however many
        // ranks share them.
        let ranks = group.size, perRank = source?.batchSize ?? 1
        let total = iterations ?? source.map { ($0.sampleCount + perRank - 1) / perRank } ?? 1
        let batches = group.rank < total ? (total - group.rank + ranks - 1) / ranks : 0
        // What is summed over the ranks has the same length on every rank, whether or not it
        // scored a batch: the outputs and classes are the net's, not the batch's.
        let classifier = net.plan.classifier.flatMap { Self.counts($0) ? $0 : nil }
        let names = net.scalarOutputs.map(\.name)
        var sums = [Double](repeating: 0, count: names.count)
        var confusion = classifier.map { Array(repeating: Array(repeating: 0, count: $0.classCount), count: $0.classCount) }
        for batch in 0..<batches {
            try net.forward()
            let outputs = net.scalarOutputs
            if outputs.contains(where: { !$0.value.isFinite }) || classifier.map({ firstNonFinite($0.scores.data, $0.scores.count) != nil }) == true {
                throw net.nonFiniteError(batchesBefore: batch, during: "in batch \(batch + 1) of the test")
            }
            for (index, output) in outputs.enumerated() { sums[index] += Double(output.value) }
            if let classifier { count(classifier, into: &confusion!) }
        }
        let counts = confusion?.flatMap { $0 } ?? []
        var totals = sums + counts.map(Double.init)
        try group.sum(&totals)
        sums = Array(totals[..<sums.count])
        if let classes = confusion?.count {
            confusion = (0..<classes).map { row in (0..<classes).map { Int(totals[sums.count + row * classes + $0]) } }
        }
        var result = TestResult(iteration: iteration, outputs: zip(names, sums).map { ($0, Float($1 / Double(total))) },
                                batches: total, images: total * perRank, confusion: confusion)
        result.sampleNoun = source?.sampleNoun ?? "images"
        if let confusion {
            let given = source?.labelNames ?? []
            result.classNames = confusion.indices.map { $0 < given.count ? given[$0] : "\($0)" }
        }
        return result
    }

    /// Whether the classifier's scores hold one row of classes per label (along axis 1), so
    /// that its predictions can be counted.
    private static func counts(_ classifier: ClassifierBlobs) -> Bool {
        let scores = classifier.scores, classes = classifier.classCount
        guard scores.shape.count >= 2, scores.shape[1] == classes, scores.shape[0] > 0 else { return false }
        return classifier.labels.count == scores.count / classes
    }

    /// Adds one batch's argmax predictions (classes along axis 1) to the confusion matrix.
    private static func count(_ classifier: ClassifierBlobs, into confusion: inout [[Int]]) {
        let scores = classifier.scores, labels = classifier.labels, classes = classifier.classCount
        let outer = scores.shape[0], inner = scores.count / (outer * classes)
        let values = scores.data, truth = labels.data
        for o in 0..<outer {
            for i in 0..<inner {
                let label = Int(label: truth[o * inner + i])
                guard label != classifier.ignoreLabel, (0..<classes).contains(label) else { continue }
                var best = 0
                for c in 1..<classes where values[(o * classes + c) * inner + i] > values[(o * classes + best) * inner + i] { best = c }
                confusion[label][best] += 1
            }
        }
    }
}

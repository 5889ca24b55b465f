import SwiftCaffeCore
import SwiftCaffeLayers

/// Where a net's class predictions are read: the scores and labels of its first Accuracy
/// layer, else of its first other layer that reads labels (a softmax loss). `test` counts its
/// confusion matrix from them, `classify` and `jvp` read the scores, and an inference net
/// keeps them out of shared memory.
public struct ClassifierBlobs {
    /// The position of the layer that compares scores with labels.
    public var layer: Int
    /// The blob the file names for the scores (not an implicit Split's copy of it).
    public var scores: Blob
    public var labels: Blob
    public var classCount: Int
    /// A label value that is skipped rather than counted (Caffe's `ignore_label`).
    public var ignoreLabel: Int?
}

/// Questions about a planned net's graph.
extension NetPlan {
    /// The layer of that name, in the schedule or folded into another.
    public func layer(named name: String) -> (any Layer)? {
        layers.first { $0.name == name } ?? folded.first { $0.layer.name == name }?.layer
    }

    /// The layer at `index` and the layers folded into it: whose work it does.
    public func layersDone(byLayerAt index: Int) -> [any Layer] {
        [layers[index]] + folded.filter { $0.into == layers[index].name }.map(\.layer)
    }

    /// The parameters whose gradients the backward of the layer at `index` adds to: its own
    /// and those of the layers folded into it.
    public func parametersLearned(byLayerAt index: Int) -> [Blob] { layersDone(byLayerAt: index).flatMap(\.params) }

    /// The blob the file names for `blob`: a blob read by several layers reaches each through
    /// an implicit Split, whose tops are copies of it.
    public func unsplit(_ blob: Blob) -> Blob {
        guard let producer = tops.firstIndex(where: { $0.contains { $0 === blob } }), layers[producer] is SplitLayer else { return blob }
        return bottoms[producer][0]
    }

    /// The layer that writes `blob` last (its creator, or the last layer working on it in place).
    public func producer(of blob: Blob) -> (any Layer)? {
        tops.indices.last { tops[$0].contains { $0 === blob } }.map { layers[$0] }
    }

    /// The data layers (those that define an epoch), in execution order.
    public var dataSources: [any DataSource] { layers.compactMap { $0 as? any DataSource } }

    /// Where the net's class predictions are read, if it compares scores with labels.
    public var classifier: ClassifierBlobs? {
        let readers = layers.indices.filter { layers[$0] is any LabelConsumer && bottoms[$0].count > 1 }
        guard let index = readers.first(where: { layers[$0] is AccuracyLayer }) ?? readers.first,
              let consumer = layers[index] as? any LabelConsumer else { return nil }
        return ClassifierBlobs(layer: index, scores: unsplit(bottoms[index][0]), labels: unsplit(bottoms[index][1]),
                               classCount: consumer.classCount, ignoreLabel: consumer.ignoreLabel)
    }

    /// The names of the blobs someone reads after forward, which the inference passes leave
    /// whole and N×C×H×W: the outputs, the classifier's scores and labels (which `test`
    /// counts), the tops of layers without bottoms (an `Input` is written by the caller, not
    /// by its forward), and the blobs named in `keeping`.
    func blobsReadOutside(keeping: Set<String>) -> Set<String> {
        var kept = Set(outputNames).union(keeping)
        if let classifier { kept.formUnion([classifier.scores.name, classifier.labels.name]) }
        for index in layers.indices where bottoms[index].isEmpty { kept.formUnion(tops[index].map(\.name)) }
        return kept
    }

    /// The first layer that cannot push tangents (data layers aside, which need not), if any.
    public var firstLayerWithoutForwardMode: (any Layer)? {
        layers.indices.first { !bottoms[$0].isEmpty && !(layers[$0] is any TangentLayer) }.map { layers[$0] }
    }
}

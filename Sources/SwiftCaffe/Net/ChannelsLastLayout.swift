import SwiftCaffeCore
import SwiftCaffeLayers

/// Which blobs of an inference net stay N×H×W×C in memory between layers that work on that
/// layout (`ChannelsLastCapable`), so that the convolution engine reorders a run of them once
/// at each end instead of twice per convolution (about a third of ResNet-50's forward time
/// at batch 1 went to those reorders: docs/performance.md, "Convolution engine").
///
/// A 4-D blob is channels-last when its writers and all its readers can work on it, and no
/// one outside the net reads it (the outputs, the classifier's blobs, the tops of layers
/// without bottoms, the blobs named in `keeping`: the ones `BlobSharing` keeps). An
/// elementwise layer (a residual sum) needs its bottoms and tops in one layout, so the pass
/// starts from every candidate and drops blobs until those rules hold (each drop can only
/// cause more, so it ends).
enum ChannelsLastLayout {
    static func assign(_ net: NetPlan, keeping: Set<String>) {
        var kept = Set(net.outputNames).union(keeping)
        if let classifier = net.classifier { kept.formUnion([classifier.scores.name, classifier.labels.name]) }
        for index in net.layers.indices where net.bottoms[index].isEmpty { kept.formUnion(net.tops[index].map(\.name)) }
        func capable(_ index: Int) -> (any ChannelsLastCapable)? {
            (net.layers[index] as? any ChannelsLastCapable).flatMap { $0.canUseChannelsLast ? $0 : nil }
        }
        var users: [ObjectIdentifier: [Int]] = [:]
        var chosen = Set<ObjectIdentifier>()
        for index in net.layers.indices {
            for blob in net.bottoms[index] + net.tops[index] { users[ObjectIdentifier(blob), default: []].append(index) }
            if capable(index) != nil {
                for top in net.tops[index] where top.shape.count == 4 && !kept.contains(top.name) { chosen.insert(ObjectIdentifier(top)) }
            }
        }
        // A convolution reads and writes either layout; an elementwise layer needs all its
        // blobs alike, so one N×C×H×W blob among them rules out the others. Dropping a blob
        // can only rule out the blobs of its elementwise users: a worklist, linear in the uses.
        // Each layer's blobs are dropped at most once (`cleared`), so a Split or Eltwise of many
        // blobs costs its size once, not once per blob.
        var dropped: [ObjectIdentifier] = []
        var cleared = Set<Int>()
        func drop(_ blob: ObjectIdentifier) {
            if chosen.remove(blob) != nil { dropped.append(blob) }
        }
        func clear(_ index: Int) {
            guard cleared.insert(index).inserted else { return }
            for blob in net.bottoms[index] + net.tops[index] { drop(ObjectIdentifier(blob)) }
        }
        for index in net.layers.indices {
            guard let layer = capable(index) else {
                clear(index)
                continue
            }
            if layer.isElementwise && !(net.bottoms[index] + net.tops[index]).allSatisfy({ chosen.contains(ObjectIdentifier($0)) }) { clear(index) }
        }
        while let blob = dropped.popLast() {
            for index in users[blob, default: []] where capable(index)?.isElementwise == true { clear(index) }
        }
        for index in net.layers.indices {
            guard let layer = capable(index), !layer.isElementwise, let bottom = net.bottoms[index].first, let top = net.tops[index].first else { continue }
            layer.useChannelsLast(bottom: chosen.contains(ObjectIdentifier(bottom)), top: chosen.contains(ObjectIdentifier(top)))
        }
    }
}

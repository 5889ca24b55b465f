import SwiftCaffeCore
import SwiftCaffeLayers

/// Which blobs of an inference net stay N×H×W×C in memory between layers that work on that
/// layout (`ChannelsLastCapable`), so that the convolution engine reorders a run of them once
/// at each end instead of twice per convolution (about a third of ResNet-50's forward time
/// at batch 1 went to those reorders: docs/performance.md, "Convolution engine").
///
/// A 4-D blob is channels-last when its writers and all its readers can work on it, and no
/// one outside the net reads it (`blobsReadOutside`, the ones `BlobSharing` keeps). A layer of
/// rule `.alike` (a residual sum, a pooling, a concatenation) needs its
/// bottoms and tops in one layout, so the pass starts from every candidate and drops blobs
/// until those rules hold (each drop can only cause more, so it ends).
///
/// A blob of 1×1 positions (what a global pooling writes) is the same in both layouts: it
/// counts as channels-last for every rule and is never dropped, so that a net's last pooling
/// does not pull its whole residual trunk back to N×C×H×W.
enum ChannelsLastLayout {
    static func assign(_ net: NetPlan, keeping: Set<String>) {
        let kept = net.blobsReadOutside(keeping: keeping)
        func capable(_ index: Int) -> (any ChannelsLastCapable)? {
            (net.layers[index] as? any ChannelsLastCapable).flatMap { $0.canUseChannelsLast ? $0 : nil }
        }
        func sharesOneLayout(_ index: Int) -> Bool { capable(index).map { $0.channelsLastRule != .eachEnd } ?? false }
        func isNeutral(_ blob: Blob) -> Bool { blob.shape.count == 4 && blob.shape[2] * blob.shape[3] == 1 }
        var users: [ObjectIdentifier: [Int]] = [:]
        var chosen = Set<ObjectIdentifier>(), neutral = Set<ObjectIdentifier>()
        for index in net.layers.indices {
            for blob in net.bottoms[index] + net.tops[index] {
                users[ObjectIdentifier(blob), default: []].append(index)
                if isNeutral(blob) { neutral.insert(ObjectIdentifier(blob)) }
            }
            if capable(index) != nil {
                for top in net.tops[index] where top.shape.count == 4 && !kept.contains(top.name) { chosen.insert(ObjectIdentifier(top)) }
            }
        }
        chosen.formUnion(neutral)
        // A convolution reads and writes either layout; a layer that needs all its blobs
        // alike is ruled out by one N×C×H×W blob among them. Dropping a blob can only rule out
        // the blobs of such users: a worklist, linear in the uses. Each layer's blobs are
        // dropped at most once (`cleared`), so a Split or Concat of many blobs costs its size
        // once, not once per blob.
        var dropped: [ObjectIdentifier] = []
        var cleared = Set<Int>()
        func drop(_ blob: ObjectIdentifier) {
            if !neutral.contains(blob), chosen.remove(blob) != nil { dropped.append(blob) }
        }
        func clear(_ index: Int) {
            guard cleared.insert(index).inserted else { return }
            for blob in net.bottoms[index] + net.tops[index] { drop(ObjectIdentifier(blob)) }
        }
        for index in net.layers.indices {
            guard capable(index) != nil else {
                clear(index)
                continue
            }
            if sharesOneLayout(index) && !(net.bottoms[index] + net.tops[index]).allSatisfy({ chosen.contains(ObjectIdentifier($0)) }) { clear(index) }
        }
        while let blob = dropped.popLast() {
            for index in users[blob, default: []] where sharesOneLayout(index) { clear(index) }
        }
        for index in net.layers.indices {
            guard let layer = capable(index), let bottom = net.bottoms[index].first, let top = net.tops[index].first else { continue }
            switch layer.channelsLastRule {
            case .alike:
                let alike = !cleared.contains(index)
                layer.useChannelsLast(bottom: alike, top: alike)
            case .eachEnd:
                layer.useChannelsLast(bottom: chosen.contains(ObjectIdentifier(bottom)), top: chosen.contains(ObjectIdentifier(top)))
            }
        }
    }
}

import SwiftCaffeCore

/// Which blobs of a net that only runs forward can take turns in one buffer.
///
/// A blob holds something worth keeping from the layer that first writes it until the last
/// layer that reads it (or works on it in place) has run; after that its memory can hold a
/// blob written later. Walking the layers in execution order, each new top takes the free
/// buffer that fits it most closely (or the largest free one, which grows to fit), and a blob's
/// buffer is freed only after the layer that reads it last has written its own tops, so no
/// layer ever reads and writes one buffer through two names.
///
/// Kept whole to the end, since someone reads them after forward: `blobsReadOutside`.
enum BlobSharing {
    static func groups(_ net: NetPlan, keeping: Set<String>) -> [[Blob]] {
        var lastUse: [ObjectIdentifier: Int] = [:]
        for index in net.layers.indices {
            for blob in net.bottoms[index] + net.tops[index] { lastUse[ObjectIdentifier(blob)] = index }
        }
        let kept = net.blobsReadOutside(keeping: keeping)
        var groups: [[Blob]] = [], sizes: [Int] = [], free: [Int] = [], seen: Set<ObjectIdentifier> = []
        var groupOf: [ObjectIdentifier: Int] = [:]
        for index in net.layers.indices {
            for top in net.tops[index] where seen.insert(ObjectIdentifier(top)).inserted {
                let fitting = free.filter { sizes[$0] >= top.count }.min { sizes[$0] < sizes[$1] }
                if !kept.contains(top.name), let group = fitting ?? free.max(by: { sizes[$0] < sizes[$1] }) {
                    free.removeAll { $0 == group }
                    groups[group].append(top)
                    sizes[group] = max(sizes[group], top.count)
                    groupOf[ObjectIdentifier(top)] = group
                } else {
                    groups.append([top])
                    sizes.append(top.count)
                    groupOf[ObjectIdentifier(top)] = groups.count - 1
                }
            }
            // Buffers whose blob this layer was the last to touch are free for the next layers.
            for blob in net.bottoms[index] + net.tops[index] where lastUse[ObjectIdentifier(blob)] == index && !kept.contains(blob.name) {
                lastUse[ObjectIdentifier(blob)] = nil
                if let group = groupOf[ObjectIdentifier(blob)] { free.append(group) }
            }
        }
        // Blobs no layer touches (none in a built net) keep memory of their own.
        for blob in net.blobs.values where !seen.contains(ObjectIdentifier(blob)) { groups.append([blob]) }
        return groups
    }
}

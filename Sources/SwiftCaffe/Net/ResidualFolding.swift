import SwiftCaffeLayers

/// The inference pass that folds a residual sum into the convolution writing one of its
/// summands: ResNet's `sum = shortcut + branch` (then its ReLU) becomes the branch's last
/// convolution adding its output to the shortcut's blob in place, as oneDNN's `sum` post-op
/// does while it writes (`ConvolutionLayer.fuseResidualSum`). That saves reading both
/// summands again and writing the sum (docs/performance.md has what it took in ResNet-50).
///
/// The shortcut's blob is overwritten, so the fold needs what in-place work needs: every other
/// reader of the shortcut runs before the convolution, the convolution does not read it, and
/// no one outside the net reads the shortcut, the branch or the sum (`blobsReadOutside`). The
/// branch must be read by the sum alone. The sum's readers then read the shortcut's blob.
/// Without the engine the values are the same bits (the same two floats added, then the
/// ReLU); oneDNN adds inside its kernel, and tests hold it to the unfused net's values.
enum ResidualFolding {
    static func fold(_ plan: inout NetPlan, keeping: Set<String>) {
        let outside = plan.blobsReadOutside(keeping: keeping)
        var index = 0
        while index < plan.layers.count {
            guard let sum = plan.layers[index] as? EltwiseLayer, sum.isPlainSumOfTwo, !outside.contains(plan.tops[index][0].name),
                  let (convolution, shortcut) = foldable(plan, sum: index, outside: outside) else {
                index += 1
                continue
            }
            guard (plan.layers[convolution] as! ConvolutionLayer).fuseResidualSum(relu: sum.fusedReLU) else {
                index += 1
                continue
            }
            plan.redirectTop(of: convolution, to: shortcut)
            plan.rewireReaders(of: [plan.tops[index][0]], to: shortcut)
            plan.removeLayer(at: index, foldedInto: plan.layers[convolution].name)
        }
    }

    /// The convolution (its index) that can add into the other summand (returned), if any.
    private static func foldable(_ plan: NetPlan, sum: Int, outside: Set<String>) -> (Int, Blob)? {
        let summands = plan.bottoms[sum], total = plan.tops[sum][0]
        guard summands[0] !== summands[1], !summands.contains(where: { $0 === total }) else { return nil }
        for (branch, shortcut) in [(summands[1], summands[0]), (summands[0], summands[1])] {
            let writers = plan.layers.indices.filter { plan.tops[$0].contains { $0 === branch } }
            let readers = plan.layers.indices.filter { plan.bottoms[$0].contains { $0 === branch } }
            guard writers.count == 1, let convolution = writers.first, plan.layers[convolution] is ConvolutionLayer,
                  plan.tops[convolution].count == 1, readers == [sum], !outside.contains(branch.name), !outside.contains(shortcut.name),
                  plan.bottoms[convolution][0] !== shortcut else { continue }
            // The shortcut is written before the convolution and read by no one between it and
            // the sum (nor after the sum, but through the sum's own top).
            let touching = plan.layers.indices.filter { $0 != sum && (plan.bottoms[$0] + plan.tops[$0]).contains { $0 === shortcut } }
            guard let first = touching.first, first < convolution, touching.allSatisfy({ $0 < convolution }) else { continue }
            return (convolution, shortcut)
        }
        return nil
    }
}

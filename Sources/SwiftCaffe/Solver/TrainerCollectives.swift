import Foundation
import SwiftCaffeCore
import SwiftCaffeIO

/// What the trainer does with its `ProcessGroup` at the start of a run, in each backward
/// pass, after each iteration and at each snapshot. In a group of one every step leaves the
/// run as it was.
extension Trainer {
    /// Groups the learning parameters by the layer whose backward completes their gradients:
    /// the first layer in forward order among those that use the blob (a blob shared by name
    /// is complete only when backward has passed all of its users). Frozen parameters
    /// (`lr_mult: 0`) are not summed: the solver ignores their gradients.
    func groupGradientsByLayer() -> [Int: [Blob]] {
        var finisher: [ObjectIdentifier: Int] = [:]
        for index in trainNet.layers.indices where trainNet.plan.runsBackward[index] {
            for blob in trainNet.plan.parametersLearned(byLayerAt: index) {
                finisher[ObjectIdentifier(blob)] = min(finisher[ObjectIdentifier(blob)] ?? index, index)
            }
        }
        var groups: [Int: [Blob]] = [:]
        for parameter in trainNet.parameters where parameter.lrMult > 0 {
            guard let index = finisher[ObjectIdentifier(parameter.blob)] else { continue }  // no gradient reaches it
            groups[index, default: []].append(parameter.blob)
        }
        return groups
    }

    /// Makes every rank start from rank 0's state: its weights (fresh, loaded with
    /// `--weights` or resumed) and its solver state (iteration, history, data positions).
    func startFromRootState() throws {
        guard ranks > 1 else { return }  // nothing to send: spare encoding the state
        var state = isRoot ? try encodedState(weightsName: "") : []
        try group.broadcast(&state)
        try group.broadcast(trainNet.parameters.map(\.blob))
        guard !isRoot else { return }
        let (tensors, metadata) = try Safetensors.decode(state, file: "rank 0's solver state")
        try restoreState(tensors, metadata, from: "rank 0's solver state") { _ in }
    }

    /// Runs backward, starting each layer's gradient sums as soon as that layer is done, and
    /// waits for all of them.
    func backwardSummingGradients() throws {
        var failure: (any Error)?
        trainNet.backward { index in
            guard failure == nil, let gradients = self.gradientsReady[index] else { return }
            do { try self.group.startSumming(gradients) } catch { failure = error }
        }
        if let failure { throw failure }
        try group.finishSumming()
    }

    /// The mean of the ranks' losses: the loss of the global batch.
    func meanOverRanks(_ loss: Float) throws -> Float {
        return Float(try group.sum(Double(loss)) / Double(ranks))
    }

    /// Whether any rank was asked to stop (mpirun passes Ctrl-C to every rank, but not
    /// necessarily within the same iteration), so that all stop after the same one.
    func agreeOnStopping(_ stopping: Bool) throws -> Bool {
        try group.sum(stopping ? 1 : 0) > 0
    }

    /// Checks that every rank holds bit-identical weights, as the identical updates must give;
    /// returns their checksum. Ranks that disagree are a bug or a broken machine, and the run
    /// stops rather than snapshot one of several diverged models.
    @discardableResult
    func checkReplicasAgree() throws -> UInt64 {
        let checksum = trainNet.weightsChecksum()
        let all = try group.gather(checksum)
        let differing = all.indices.filter { all[$0] != all[0] }
        guard differing.isEmpty else {
            throw SwiftCaffeError("at iteration \(iteration) the weights of rank(s) \(differing.map(String.init).joined(separator: ", ")) differ from rank 0's",
                                  hint: "the ranks must run the same build with the same net file, thread count and libraries; report this if they do")
        }
        return checksum
    }
}

extension Trainer {
    /// Averages over the ranks the parameters a layer keeps itself rather than learns
    /// (`isLearnable` false): BatchNorm's running statistics, which each rank gathers over its
    /// own slice of the batches. Called before each test and snapshot, so that every rank
    /// tests, and rank 0 saves, the same model; without it a net with BatchNorm failed the
    /// weights check at its first snapshot. Weights frozen with `lr_mult: 0` are equal on
    /// every rank already, and are not sent.
    func averageSelfKeptParameters() throws {
        guard ranks > 1 else { return }
        var seen = Set<ObjectIdentifier>()
        let blobs = trainNet.parameters.filter { parameter in
            let owner = trainNet.layers.first { $0.name == parameter.layer }
            return owner?.isLearnable(parameter: parameter.index) == false && seen.insert(ObjectIdentifier(parameter.blob)).inserted
        }.map(\.blob)
        guard !blobs.isEmpty else { return }
        var values = [Double]()
        values.reserveCapacity(blobs.reduce(0) { $0 + $1.count })
        for blob in blobs { for i in 0..<blob.count { values.append(Double(blob.data[i])) } }
        try group.sum(&values)
        var offset = 0
        for blob in blobs {
            for i in 0..<blob.count { blob.data[i] = Float(values[offset + i] / Double(ranks)) }
            offset += blob.count
        }
    }
}

import Foundation
import SwiftCaffeCore

/// Data-parallel training inside one process: `mpirun -np N` without MPI. Each replica is a
/// rank with its own net and `Trainer`, run on its own thread with its own kernel threads;
/// the replicas meet only where ranks do, to sum gradients before each update (and losses,
/// test scores, stop requests). `swiftcaffe train --replicas N`.
///
/// Why: two threads that split every layer meet at every layer's end (about 30 times an
/// iteration) and pass activations between cores; two ranks meet once. Replicas sum
/// gradients through shared memory rather than MPI's copies, and on two cores they train
/// faster than both two threads and two MPI ranks (docs/distributed.md has the figures).
///
/// Every replica must make the same calls in the same order, as MPI collectives require.
/// A replica that fails calls `abandon`, so that the others throw instead of waiting forever.
public final class ReplicaGroup: @unchecked Sendable {
    public let count: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    /// The first failure; once set every wait throws.
    private var failure: (any Error)?
    /// What each replica puts up for the current collective, one slot per replica: a replica
    /// writes only its own slot, before the collective's first barrier, and reads the others'
    /// only between its barriers. Raw memory, not arrays: a Swift array written from several
    /// threads, even at different indices, races on its copy-on-write buffer.
    fileprivate let posted: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    fileprivate let gradients: UnsafeMutablePointer<[Blob]>
    fileprivate let values: UnsafeMutablePointer<UInt64>

    public init(count: Int) {
        precondition(count >= 1, "a group of \(count) replicas")
        self.count = count
        posted = .allocate(capacity: count)
        posted.initialize(repeating: nil, count: count)
        gradients = .allocate(capacity: count)
        gradients.initialize(repeating: [], count: count)
        values = .allocate(capacity: count)
        values.initialize(repeating: 0, count: count)
    }

    deinit {
        posted.deallocate()
        gradients.deinitialize(count: count)
        gradients.deallocate()
        values.deallocate()
    }

    /// The `ProcessGroup` of replica `rank`.
    public func replica(_ rank: Int) -> ProcessGroup { Replica(group: self, rank: rank) }

    /// Waits until every replica has arrived. Throws if a replica gave up.
    fileprivate func barrier() throws {
        condition.lock()
        defer { condition.unlock() }
        if failure != nil { throw Abandoned() }
        let current = generation
        arrived += 1
        if arrived == count {
            arrived = 0
            generation += 1
            condition.broadcast()
            return
        }
        while generation == current && failure == nil { condition.wait() }
        if generation == current { throw Abandoned() }
    }

    /// Marks the group failed with `error` (the first one wins) and wakes every waiting replica.
    public func abandon(because error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    /// What a replica throws when another one failed: not the error to report.
    public struct Abandoned: Error {}

    /// Runs `body(sync)` for every replica at once, replica 0 on the calling thread and the
    /// others on threads of their own, each with `threadsPerReplica` kernel threads. Returns
    /// when all are done; rethrows the first replica's error, after the others have stopped.
    public static func run(count: Int, threadsPerReplica: Int, _ body: @escaping @Sendable (ProcessGroup) throws -> Void) throws {
        let group = ReplicaGroup(count: count)
        let finished = DispatchGroup()
        let replica: @Sendable (Int) -> Void = { rank in
            do {
                try Parallel.withThreads(threadsPerReplica) { try body(group.replica(rank)) }
            } catch {
                group.abandon(because: error)
            }
        }
        for rank in 1..<max(count, 1) {
            finished.enter()
            // pthread_create itself, not Foundation's Thread, whose start() fails silently
            // (out of memory, or out of threads): a replica that never starts would leave the
            // others waiting for it forever.
            let code = startThread(stackBytes: 8 << 20) {  // as the main thread's: Foundation's default is 512 KB
                replica(rank)
                finished.leave()
            }
            if code != 0 {
                finished.leave()
                group.abandon(because: SwiftCaffeError("could not start replica \(rank) of \(count): \(String(cString: strerror(code)))",
                                                       hint: "train with fewer replicas, or allow the process more memory (ulimit -v)"))
                break
            }
        }
        replica(0)
        finished.wait()
        group.condition.lock()
        defer { group.condition.unlock() }
        if let failure = group.failure { throw failure }
    }
}

/// Runs `body` on a new detached thread with a stack of `stackBytes`; returns pthread's error
/// code (0 when the thread started).
private func startThread(stackBytes: Int, _ body: @escaping @Sendable () -> Void) -> Int32 {
    final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackBytes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let code = pthread_create(&thread, &attributes, { context in
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    if code != 0 { Unmanaged<Box>.fromOpaque(context).release() }
    return code
}

/// One replica's view of its group.
private final class Replica: ProcessGroup {
    let group: ReplicaGroup
    let rank: Int
    var size: Int { group.count }
    private(set) var waitingSeconds = 0.0
    /// Gradients started since the last `finishSumming`, in the order started.
    private var pending: [Blob] = []
    /// `sum`'s totals, kept so that the per-iteration sums (loss, stop requests) allocate nothing.
    private var totals: [Double] = []

    init(group: ReplicaGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    /// Runs a collective's steps, timing them as waiting (they are what ranks spend in MPI).
    private func timed<Result>(_ body: () throws -> Result) rethrows -> Result {
        let start = Date()
        defer { waitingSeconds += Date().timeIntervalSince(start) }
        return try body()
    }

    func broadcast(_ bytes: UnsafeMutableRawBufferPointer) throws {
        try timed {
            group.posted[rank] = bytes.baseAddress
            try group.barrier()
            if rank != 0, let target = bytes.baseAddress, let source = group.posted[0] {
                target.copyMemory(from: source, byteCount: bytes.count)
            }
            try group.barrier()  // rank 0's buffer stays untouched until every copy is made
        }
    }

    func startSumming(_ gradients: [Blob]) throws {
        pending.append(contentsOf: gradients)
    }

    /// Each replica sums its slice of every gradient over the replicas, in rank order (so the
    /// sum is the same whatever thread finishes first), and writes it to every replica's diff.
    func finishSumming() throws {
        try timed {
            // Swapped, not copied: the emptied list keeps its storage for the next iteration.
            swap(&group.gradients[rank], &pending)
            pending.removeAll(keepingCapacity: true)
            try group.barrier()
            let all = group.gradients, size = size
            for index in all[rank].indices {
                let count = all[rank][index].count
                let slice = (rank * count / size)..<((rank + 1) * count / size)
                guard !slice.isEmpty else { continue }
                let total = all[0][index].diff
                for other in 1..<size {
                    let diff = all[other][index].diff
                    for i in slice { total[i] += diff[i] }
                }
                for other in 1..<size { (all[other][index].diff + slice.lowerBound).update(from: total + slice.lowerBound, count: slice.count) }
            }
            try group.barrier()  // no replica updates its weights before every slice is summed
        }
    }

    func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        try timed {
            group.posted[rank] = UnsafeMutableRawPointer(values.baseAddress)
            try group.barrier()
            totals.removeAll(keepingCapacity: true)
            totals.append(contentsOf: repeatElement(0, count: values.count))
            for other in 0..<size {
                guard let theirs = group.posted[other]?.assumingMemoryBound(to: Double.self) else { continue }
                for i in totals.indices { totals[i] += theirs[i] }
            }
            try group.barrier()  // every replica has read every buffer
            for i in totals.indices { values[i] = totals[i] }
        }
    }

    func gather(_ value: UInt64) throws -> [UInt64] {
        try timed {
            group.values[rank] = value
            try group.barrier()
            let all = Array(UnsafeBufferPointer(start: group.values, count: size))
            try group.barrier()
            return all
        }
    }
}

import CMPI
import Foundation
import SwiftCaffe

/// `ProcessGroup` over MPI (Open MPI from Debian), for `mpirun -np N swiftcaffe train`.
///
/// Every operation is a non-blocking collective on MPI_COMM_WORLD followed, when its result
/// is needed, by a wait that polls it. Polling is what lets a gradient sum started after one
/// layer's backward move along while later layers compute (MPI progresses non-blocking
/// collectives inside MPI calls), and it gives every wait a timeout: a rank that died or hangs
/// becomes an error on the others after `timeout` seconds instead of a silent hang. (When a
/// rank exits, `mpirun` usually ends the job sooner.) MPI's error handler is set to return
/// codes, so a broken connection is an error naming the operation, not an abort.
public final class MPIProcessGroup: ProcessGroup {
    public let rank: Int
    public let size: Int
    public private(set) var waitingSeconds = 0.0
    /// Seconds a rank waits for the others before it gives up.
    public let timeout: Double

    /// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, `srun`).
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
    }

    /// Joins the MPI job (initialising MPI once per process).
    public init(timeout: Double = 600) throws {
        var rank: Int32 = 0, size: Int32 = 0
        let code = cmpi_init(&rank, &size)
        guard code == 0 else { throw Self.failure(code, "starting MPI") }
        self.rank = Int(rank)
        self.size = Int(size)
        self.timeout = timeout
    }

    /// Leaves the MPI job; call once, when the run is over.
    public func finish() { _ = cmpi_finalize() }

    /// Ends every rank at once: for an error on one rank that the others cannot know of.
    public func abort(code: Int32 = 1) -> Never {
        cmpi_abort(code)
        exit(code)
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try check(cmpi_start_broadcast(base, Int64(bytes.count), 0), "broadcasting rank 0's state")
        try wait("broadcasting rank 0's state")
    }

    public func startSumming(_ gradients: [Blob]) throws {
        for blob in gradients where blob.count > 0 {
            try check(cmpi_start_sum_floats(blob.diff, Int64(blob.count)), "summing the gradients of '\(blob.name)'")
        }
        var done: Int32 = 0  // moves the earlier layers' sums along
        try check(cmpi_test_pending(&done), "summing gradients")
    }

    public func finishSumming() throws { try wait("summing gradients") }

    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        guard let base = values.baseAddress, let count = Int32(exactly: values.count), count > 0 else { return }
        try check(cmpi_start_sum_doubles(base, count), "summing scores")
        try wait("summing scores")
    }

    public func gather(_ value: UInt64) throws -> [UInt64] {
        var all = [UInt64](repeating: 0, count: size)
        try all.withUnsafeMutableBufferPointer { buffer in
            try check(cmpi_start_gather(value, buffer.baseAddress!), "comparing the ranks' weights")
            try wait("comparing the ranks' weights")
        }
        return all
    }

    /// Polls the pending operations until they finish: yielding the core at first (another
    /// rank or thread may need it), then sleeping briefly, and failing after `timeout`.
    private func wait(_ what: String) throws {
        let start = Date()
        defer { waitingSeconds += Date().timeIntervalSince(start) }
        var polls = 0
        while true {
            var done: Int32 = 0
            try check(cmpi_test_pending(&done), what)
            if done != 0 { return }
            polls += 1
            if polls < 10_000 {
                sched_yield()
            } else {
                usleep(100)
                if polls % 1000 == 0, Date().timeIntervalSince(start) > timeout {
                    throw SwiftCaffeError("rank \(rank) waited \(Int(timeout)) s for the other ranks while \(what): one of them has died or hangs",
                                          hint: "check the other ranks' output; raise the limit with --sync-timeout if a rank is just slow (a long test pass)")
                }
            }
        }
    }

    private func check(_ code: Int32, _ what: String) throws {
        guard code != 0 else { return }
        throw Self.failure(code, what)
    }

    private static func failure(_ code: Int32, _ what: String) -> SwiftCaffeError {
        var text = [CChar](repeating: 0, count: 512)
        cmpi_error_string(code, &text, Int32(text.count))
        let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return SwiftCaffeError("MPI failed while \(what): \(message)",
                               hint: "a rank has probably died or lost its connection; see the other ranks' output and mpirun's")
    }
}

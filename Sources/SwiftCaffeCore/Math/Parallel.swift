import CMachine
import Dispatch
import Foundation

/// Splits a layer's work across threads by independent items (the images of a batch, the
/// planes of a pooling, the rows of a weight gradient).
///
/// Each chunk calls single-threaded OpenBLAS on its share. Measured on LeNet this beat one
/// multi-threaded GEMM over the batch (docs/performance.md, "Threads"), most likely because
/// OpenBLAS's idle workers spin after each call and take the core from our own kernels
/// (im2col, pooling) between GEMMs, and because small GEMMs split poorly inside OpenBLAS.
/// So OpenBLAS always runs one thread and we run `threads`.
///
/// Results are deterministic for a given thread count. Between counts they can differ in the
/// last bits: GEMMs of other widths, and gradients summed per chunk, add in another order.
public enum Parallel {
    /// Threads for SwiftCaffe's kernels: all cores unless set for a scope with `withThreads`.
    /// A task-local rather than a global, so that code (and tests) running side by side can
    /// use different counts.
    @TaskLocal public static var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Runs `body` with `count` threads for every layer it runs. It also makes the calling
    /// thread flush denormals to zero, as every chunk's thread does (see CMachine).
    public static func withThreads<Result>(_ count: Int, _ body: () throws -> Result) rethrows -> Result {
        swiftcaffe_flush_denormals_to_zero()
        return try $threads.withValue(max(1, count), operation: body)
    }

    /// OpenBLAS runs single-threaded: our chunks are the parallelism (see above).
    @usableFromInline static let singleThreadedBLAS: Void = { BLAS.threads = 1 }()

    /// How many chunks `forChunks` will cut `count` items into.
    @inlinable
    public static func chunkCount(for count: Int, minimumPerChunk: Int = 1) -> Int {
        max(1, min(threads, count / max(minimumPerChunk, 1)))
    }

    /// Calls `body(chunk, range)` on contiguous chunks of `0..<count`, concurrently, one chunk
    /// per thread; runs inline when there is one chunk.
    @inlinable @inline(__always)
    public static func forChunks(of count: Int, minimumPerChunk: Int = 1, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
        _ = singleThreadedBLAS
        let chunks = chunkCount(for: count, minimumPerChunk: minimumPerChunk)
        if chunks == 1 {
            swiftcaffe_flush_denormals_to_zero()
            body(0, 0..<count)
            return
        }
        // The chunks touch disjoint memory, which the compiler cannot see through raw pointers.
        withoutActuallyEscaping(body) { body in
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                // Worker threads come from Dispatch's pool, so set the mode every time (one instruction).
                swiftcaffe_flush_denormals_to_zero()
                work.value(chunk, (chunk * count / chunks)..<((chunk + 1) * count / chunks))
            }
        }
    }
}

@usableFromInline struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @inlinable init(_ value: Value) { self.value = value }
}

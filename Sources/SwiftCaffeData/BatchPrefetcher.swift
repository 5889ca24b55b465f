import Foundation

/// A background thread that prepares a data layer's next batch while the net computes with
/// the current one, as Caffe's prefetching data layers do.
///
/// The layer owns the batch buffer and the work; the prefetcher only runs `fill` on its
/// thread and hands the buffer over. The protocol, all on the layer's (the net's) thread:
/// `startFilling()` after copying a batch out, `waitUntilFilled()` before copying the next
/// one in. While a fill is under way the layer must not touch what `fill` touches (its data
/// order, the buffer); `waitUntilFilled()` makes it safe again (before a rewind or a
/// restore). The seconds `fill` took and the seconds the layer waited for it are kept, so
/// `swiftcaffe time` can tell how much of the data cost was hidden.
final class BatchPrefetcher: @unchecked Sendable {
    private let condition = NSCondition()
    private var fill: (() -> Void)?
    private var busy = false
    private var stopping = false
    private var fillSeconds = 0.0
    private var waitSeconds = 0.0
    private var fills = 0

    init() {
        // The thread holds the prefetcher until `stop()`.
        let thread = Thread { self.run() }
        thread.name = "swiftcaffe-prefetch"
        thread.start()
    }

    /// Fills so far, the seconds they took on the prefetch thread, and the seconds the layer
    /// waited for them (the part of the data cost that was not hidden).
    var statistics: (fills: Int, fillSeconds: Double, waitSeconds: Double) {
        condition.lock()
        defer { condition.unlock() }
        return (fills, fillSeconds, waitSeconds)
    }

    /// Ends the thread after the fill under way; the layer calls it from its deinit.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    /// Runs `work` on the prefetch thread.
    func startFilling(_ work: @escaping () -> Void) {
        condition.lock()
        precondition(!busy, "a fill is already under way")
        fill = work
        busy = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for the fill under way, if any.
    func waitUntilFilled() {
        let start = DispatchTime.now().uptimeNanoseconds
        condition.lock()
        let waited = busy
        while busy { condition.wait() }
        if waited { waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
        condition.unlock()
    }

    /// Whether a fill was started and not yet waited for.
    var isFilling: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busy
    }

    private func run() {
        while true {
            condition.lock()
            while fill == nil && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let work = fill!
            fill = nil
            condition.unlock()
            let start = DispatchTime.now().uptimeNanoseconds
            work()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            condition.lock()
            fillSeconds += seconds
            fills += 1
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }
}

/// What preparing batches in the background cost, for `swiftcaffe time`: the batches
/// prepared, the seconds that took on the prefetch thread, and the seconds forward still
/// waited for them (the part not hidden behind the net's computation).
public struct PrefetchStatistics: Sendable {
    public var batches: Int
    public var preparingSeconds: Double
    public var waitingSeconds: Double
}

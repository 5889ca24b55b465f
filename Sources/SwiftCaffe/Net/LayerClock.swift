import Foundation

/// Per-layer wall-clock seconds of the passes a net runs while the clock is set on it
/// (`Net.clock`): what a training monitor shows beside each layer, from the same passes that
/// train, rather than from extra timed ones as `LayerTiming` runs. Reading the clock twice a
/// layer costs about 50 ns, against microseconds for the smallest layer.
public final class LayerClock {
    /// Seconds summed over the passes since the last `reset()`, by layer index.
    public private(set) var forward: [Double]
    public private(set) var backward: [Double]
    /// Forward passes since the last `reset()`.
    public private(set) var passes = 0

    public init(layers: Int) {
        forward = Array(repeating: 0, count: layers)
        backward = Array(repeating: 0, count: layers)
    }

    public func reset() {
        for index in forward.indices { forward[index] = 0; backward[index] = 0 }
        passes = 0
    }

    static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    func addForward(_ index: Int, since start: UInt64) {
        forward[index] += Double(Self.now &- start) * 1e-9
        if index == forward.count - 1 { passes += 1 }
    }

    func addBackward(_ index: Int, since start: UInt64) { backward[index] += Double(Self.now &- start) * 1e-9 }
}

/// Scratch memory the layers of one net share: the convolutions' unrolled columns, block
/// outputs and per-thread gradient sums. A net runs its layers one at a time and no layer
/// keeps anything in scratch from one call to the next, so one set of per-thread buffers,
/// grown to the largest request, serves them all: scratch costs what the largest layer
/// needs rather than the sum over all layers (53 convolutions in ResNet-50).
///
/// A net gives all its layers one arena through their `LayerContext`; a layer built alone
/// gets one of its own.
public final class ScratchArena: @unchecked Sendable {  // used by one net, one layer at a time
    /// `slots[chunk][slot]`.
    private var slots: [[Blob]] = []

    public init() {}

    /// For each of `chunks` threads, one buffer of at least `counts[slot]` floats per slot.
    /// They stay valid until the next call; what they hold is unspecified. Memory is taken
    /// here, not planned: each layer checks its own need against `MemoryBudget` in `setUp`.
    package func buffers(chunks: Int, counts: [Int]) -> [[UnsafeMutablePointer<Float>]] {
        while slots.count < chunks { slots.append([]) }
        return (0..<chunks).map { chunk in
            counts.indices.map { slot in
                if slots[chunk].count <= slot { slots[chunk].append(Blob()) }
                if slots[chunk][slot].count < counts[slot] { slots[chunk][slot] = Blob(shape: [counts[slot]]) }
                return slots[chunk][slot].data
            }
        }
    }
}

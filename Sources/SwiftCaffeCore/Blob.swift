/// A Caffe blob: a shape and two contiguous Float32 buffers of that size, `data` (values)
/// and `diff` (gradients).
///
/// The buffers are raw, manually managed memory so that kernels run over unsafe pointers
/// without bounds checks or copy-on-write. A blob only reallocates when it is reshaped to a
/// larger count than it ever held, so the training loop, which reshapes to the same shape
/// every iteration, never allocates. `diff` is allocated on first use: a test net, which
/// never runs backward, holds values only.
///
/// A *deferred* blob (`Blob(deferred:)`) has a shape but no memory until `allocate()` or the
/// first read of `data`: a net shapes all its blobs first, adds up what they will take and
/// refuses a net that does not fit before any of it is allocated (`MemoryBudget`); `summary`
/// and `draw` never allocate at all. A parameter's filler runs when its memory arrives.
public final class Blob {
    /// The blob's name in the net (the `top` name that produced it).
    public let name: String
    public private(set) var shape: [Int]
    public private(set) var count: Int
    private var capacity: Int
    private var storage: UnsafeMutablePointer<Float>?
    /// Set when `storage` is memory this blob takes turns in with others (`BlobSharing`),
    /// which it must not free.
    private var sharedMemory: SharedMemory?
    private var diffStorage: UnsafeMutablePointer<Float>?
    /// Runs once on the values when a deferred blob gets its memory (a parameter's filler).
    private var initializer: ((Blob) -> Void)?
    /// Whether some layer upstream has a learnable parameter, so backward must compute this
    /// blob's gradient. Data and labels have none; the net sets this while building.
    public var needsGradient = false

    public init(name: String = "", shape: [Int] = []) {
        self.name = name
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.capacity = max(count, 1)
        storage = Self.allocateZeroed(capacity)
    }

    /// A blob whose memory waits for `allocate()` (or the first read of `data`), then holds
    /// zeros, or what `initializer` writes.
    public init(deferred name: String, shape: [Int] = [], initializer: ((Blob) -> Void)? = nil) {
        self.name = name
        self.shape = shape
        self.count = checkedCount(shape) ?? 0
        self.capacity = 0
        self.initializer = initializer
    }

    /// The values. Reading them allocates a deferred blob, which is not thread-safe: the net
    /// allocates its blobs before it runs, so kernels only ever see allocated ones.
    public var data: UnsafeMutablePointer<Float> {
        if let storage { return storage }
        return allocate()
    }

    /// Whether the values have memory yet.
    public var isAllocated: Bool { storage != nil }

    /// Gives a deferred blob its memory (zeros, then its initializer); does nothing to one that has it.
    @discardableResult
    public func allocate() -> UnsafeMutablePointer<Float> {
        if let storage { return storage }
        capacity = max(count, 1)
        let values = Self.allocateZeroed(capacity)
        storage = values
        if let initializer {
            self.initializer = nil
            initializer(self)
        }
        return values
    }

    /// Gives a deferred blob its memory in `memory`, which other blobs use while this one
    /// holds nothing anyone will read (an inference net's plan, `BlobSharing`). A blob that
    /// already has memory (a layer wrote it while setting up) keeps its own.
    package func allocate(sharing memory: SharedMemory) {
        guard storage == nil, memory.count >= count else { return }
        sharedMemory = memory
        capacity = memory.count
        storage = memory.pointer
    }

    /// Zeroed memory on a 64-byte boundary: a cache line, and an AVX-512 vector, so kernels
    /// never split a load across two lines (malloc's 16-byte alignment made speed vary run to run).
    fileprivate static func allocateZeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        let pointer = raw.bindMemory(to: Float.self, capacity: count)
        pointer.initialize(repeating: 0, count: count)
        return pointer
    }

    deinit {
        if sharedMemory == nil { storage?.deallocate() }
        diffStorage?.deallocate()
    }

    /// The gradients, zero until written. The first access allocates, so it is not
    /// thread-safe: a kernel that splits work across threads reads it before splitting.
    public var diff: UnsafeMutablePointer<Float> {
        if let diffStorage { return diffStorage }
        capacity = max(capacity, count, 1)
        let storage = Self.allocateZeroed(capacity)
        diffStorage = storage
        return storage
    }

    /// Changes the shape; contents are kept when the count is unchanged, zeroed when it grows.
    /// A shape that overflows or exceeds 2³¹ values (8 GB) is an error, not an allocation that
    /// kills the process: every top a layer shapes from its keys passes through here.
    public func reshape(_ newShape: [Int]) throws {
        guard let newCount = checkedCount(newShape) else {
            throw SwiftCaffeError("blob '\(name)' would have shape \(newShape), too large (over 2³¹ values)",
                                  hint: "check the sizes, strides and counts that lead to it")
        }
        if newCount > capacity, let old = storage {
            // A blob that already has memory grows now: a layer's own buffer (the net's blobs
            // are deferred and planned), so it is checked against the budget here.
            try MemoryBudget.require((newCount + (diffStorage == nil ? 0 : newCount)) * MemoryLayout<Float>.stride,
                                     for: name.isEmpty ? "a buffer of shape \(newShape)" : "blob '\(name)' of shape \(newShape)")
            if sharedMemory == nil { old.deallocate() }
            sharedMemory = nil  // grown past the shared memory: its own from now on
            diffStorage?.deallocate()
            diffStorage = nil
            capacity = newCount
            storage = Self.allocateZeroed(capacity)
        } else if newCount > capacity {
            diffStorage?.deallocate()  // deferred: memory comes with allocate()
            diffStorage = nil
        }
        shape = newShape
        count = newCount
    }

    /// Dimension `axis`, counting from the end when negative.
    public func dim(_ axis: Int) -> Int { shape[axis < 0 ? shape.count + axis : axis] }

    /// Product of the dimensions from `start` (inclusive) to `end` (exclusive).
    public func count(from start: Int, to end: Int? = nil) -> Int {
        shape[start..<(end ?? shape.count)].reduce(1, *)
    }

    public var num: Int { shape.first ?? 1 }

    /// The values as a Swift array (for tests and I/O, not for kernels).
    public var dataArray: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    public var diffArray: [Float] { Array(UnsafeBufferPointer(start: diff, count: count)) }

    public func setData(_ values: [Float]) {
        precondition(values.count == count, "blob \(name): \(values.count) values for \(count) slots")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public func setDiff(_ values: [Float]) {
        precondition(values.count == count, "blob \(name): \(values.count) values for \(count) slots")
        values.withUnsafeBufferPointer { diff.update(from: $0.baseAddress!, count: count) }
    }

    public func zeroDiff() { diff.update(repeating: 0, count: count) }

    /// A human-readable shape such as `64x20x24x24`.
    public var shapeDescription: String { shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x") }
}

/// Memory that several blobs of an inference net take turns in (`BlobSharing`); freed when
/// the last of them goes.
package final class SharedMemory {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    package init(count: Int) {
        self.count = max(count, 1)
        pointer = Blob.allocateZeroed(self.count)
    }

    deinit { pointer.deallocate() }
}

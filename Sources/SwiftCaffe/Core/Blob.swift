/// A Caffe blob: a shape and two contiguous Float32 buffers of that size, `data` (values)
/// and `diff` (gradients).
///
/// The buffers are raw, manually managed memory so that kernels run over unsafe pointers
/// without bounds checks or copy-on-write. A blob only reallocates when it is reshaped to a
/// larger count than it ever held, so the training loop, which reshapes to the same shape
/// every iteration, never allocates. `diff` is allocated on first use: a test net, which
/// never runs backward, holds values only.
public final class Blob {
    /// The blob's name in the net (the `top` name that produced it).
    public let name: String
    public private(set) var shape: [Int]
    public private(set) var count: Int
    private var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    private var diffStorage: UnsafeMutablePointer<Float>?
    /// Whether some layer upstream has a learnable parameter, so backward must compute this
    /// blob's gradient. Data and labels have none; the net sets this while building.
    public var needsGradient = false

    public init(name: String = "", shape: [Int] = []) {
        self.name = name
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.capacity = max(count, 1)
        data = Self.allocateZeroed(capacity)
    }

    /// Zeroed memory on a 64-byte boundary: a cache line, and an AVX-512 vector, so kernels
    /// never split a load across two lines (malloc's 16-byte alignment made speed vary run to run).
    private static func allocateZeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        let pointer = raw.bindMemory(to: Float.self, capacity: count)
        pointer.initialize(repeating: 0, count: count)
        return pointer
    }

    deinit {
        data.deallocate()
        diffStorage?.deallocate()
    }

    /// The gradients, zero until written. The first access allocates, so it is not
    /// thread-safe: a kernel that splits work across threads reads it before splitting.
    public var diff: UnsafeMutablePointer<Float> {
        if let diffStorage { return diffStorage }
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
        if newCount > capacity {
            data.deallocate()
            diffStorage?.deallocate()
            diffStorage = nil
            capacity = newCount
            data = Self.allocateZeroed(capacity)
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

/// The number of elements of `shape`, or nil if it overflows or exceeds `limit` (2³¹ by
/// default: 8 GB of floats). Shapes that come from files (an IDX header, a safetensors
/// header, an `Input` or `Reshape` layer) go through this, so a hostile or mistaken number
/// is an error instead of an arithmetic trap or an impossible allocation.
public func checkedCount(_ shape: [Int], limit: Int = 1 << 31) -> Int? {
    var count = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        guard !overflow, product <= limit else { return nil }
        count = product
    }
    return count
}

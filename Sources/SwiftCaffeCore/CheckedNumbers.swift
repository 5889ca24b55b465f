/// Numbers that come from outside (net and solver files, flags, file headers, solver states,
/// blob values used as indices) become sizes and indices here, and only here: every function
/// answers nil for what does not fit instead of trapping on a conversion or an overflow, so
/// the caller can say which file, key or layer the bad number came from.

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

extension Int {
    /// `value` if it is a whole number in `range`; nil for a fraction, NaN, ±∞ or anything
    /// out of range (where `Int(value)` would trap).
    public init?(whole value: Double, in range: ClosedRange<Int> = Int.min...Int.max) {
        // ±2⁶³ is the first Double past Int's range on either side.
        guard value.isFinite, value.rounded() == value, value > -9.223372036854775808e18, value < 9.223372036854775808e18 else { return nil }
        let whole = Int(value)
        guard range.contains(whole) else { return nil }
        self = whole
    }

    /// `value` if it is a whole number in `range` (see the Double version).
    public init?(whole value: Float, in range: ClosedRange<Int> = Int.min...Int.max) {
        self.init(whole: Double(value), in: range)
    }

    /// `text` (a whole number, `_` separators allowed) if it is in `range`.
    public init?(wholeText text: some StringProtocol, in range: ClosedRange<Int> = Int.min...Int.max) {
        guard text.count <= 64, let value = Int(text.replacingOccurrences(of: "_", with: "")), range.contains(value) else { return nil }
        self = value
    }
}

extension Int {
    /// A label or index read from a blob inside a kernel, truncated like `Int(value)` but −1 for
    /// NaN, ±∞ and magnitudes past 2³¹, where `Int(value)` would trap. The net has already
    /// checked the values of an `IndexConsumer`'s bottoms; this keeps a direct caller (a test,
    /// a loop of one's own) from crashing the process.
    @inlinable @inline(__always)
    public init(label value: Float) {
        self = value.isFinite && abs(value) < 2_147_483_648 ? Int(value) : -1
    }
}

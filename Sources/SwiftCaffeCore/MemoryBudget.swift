import Foundation

/// How much memory this process may still take, so that a net too large to run is refused
/// with an error that names it, before any of it is allocated, rather than killed by the
/// allocator ("failed to allocate", no location) or by the kernel's OOM killer.
///
/// The budget is the smallest of: physical memory less what the process already holds; the
/// address-space limit (`ulimit -v`, RLIMIT_AS) less the address space already mapped; and
/// the limit set with `--memory-limit` (`MemoryBudget.limit`) less what the process holds.
public enum MemoryBudget {
    /// A cap on the process's resident memory, in bytes (`--memory-limit`); nil: none.
    nonisolated(unsafe) public static var limit: Int?

    /// Bytes the process may still allocate, and what bounds it (for messages).
    public static func available() -> (bytes: Int, bound: String) {
        let pageSize = max(sysconf(Int32(_SC_PAGESIZE)), 1)
        let (mapped, resident) = usage(pageSize: pageSize)
        var best = (bytes: Int.max, bound: "no limit")
        func consider(_ bytes: Int, _ bound: String) {
            if bytes < best.bytes { best = (max(0, bytes), bound) }
        }
        let physical = sysconf(Int32(_SC_PHYS_PAGES)) * pageSize
        if physical > 0 { consider(physical - resident, "\(humanBytes(physical)) of physical memory, \(humanBytes(resident)) in use") }
        var address = rlimit()
        if getrlimit(RLIMIT_AS_VALUE, &address) == 0, address.rlim_cur < UInt64(Int.max) {
            consider(Int(address.rlim_cur) - mapped, "an address-space limit (ulimit -v) of \(humanBytes(Int(address.rlim_cur))), \(humanBytes(mapped)) mapped")
        }
        if let limit { consider(limit - resident, "--memory-limit \(humanBytes(limit)), \(humanBytes(resident)) in use") }
        return best
    }

    /// Throws unless `bytes` more fit in the budget; `what` names them in the message (e.g.
    /// "blob 'conv1'"). For allocations a layer makes for itself, which the net's plan does
    /// not count.
    public static func require(_ bytes: Int, for what: String,
                               hint: String = "lower the batch_size or the layer's sizes, or allow more memory (--memory-limit, ulimit -v)") throws {
        let (available, bound) = Self.available()
        guard bytes > available else { return }
        throw SwiftCaffeError("\(what) needs \(humanBytes(bytes)), but the process can take only \(humanBytes(available)) more (\(bound))", hint: hint)
    }

    /// `require` for a file read whole, which takes `copies` times its size while it is parsed
    /// (the bytes, and what they become). A missing file passes: its reader says so.
    public static func require(toRead path: String, copies: Int, for what: String) throws {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attributes[.size] as? NSNumber)?.intValue else { return }
        try require(size.multipliedReportingOverflow(by: copies).overflow ? .max : size * copies, for: what,
                    hint: "is it the right file? If so, allow more memory (--memory-limit, ulimit -v)")
    }

    /// `require` for a count of Floats computed in Double, so that a product of sizes from a
    /// file cannot overflow on its way here.
    public static func require(floats: Double, for what: String) throws {
        try require(Int(whole: (floats * Double(MemoryLayout<Float>.stride)).rounded(.up), in: 0...Int.max) ?? .max, for: what)
    }

    /// Mapped and resident bytes from /proc/self/statm (zeros where it is unavailable).
    private static func usage(pageSize: Int) -> (mapped: Int, resident: Int) {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return (0, 0) }
        let pages = text.split(separator: " ").prefix(2).compactMap { Int($0) }
        guard pages.count == 2 else { return (0, 0) }
        return (pages[0] * pageSize, pages[1] * pageSize)
    }

    /// Reads a size such as `4G`, `512M`, `300k` or `1000000` (bytes); nil if it is not one.
    public static func parse(_ text: String) -> Int? {
        let units: [Character: Double] = ["k": 1e3, "K": 0x1p10, "m": 1e6, "M": 0x1p20, "g": 1e9, "G": 0x1p30, "t": 1e12, "T": 0x1p40]
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        if digits.hasSuffix("B") || digits.hasSuffix("b") { digits = digits.dropLast() }
        var scale = 1.0
        if let last = digits.last, let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard digits.count <= 32, let number = Double(digits), number > 0 else { return nil }
        return Int(whole: (number * scale).rounded(), in: 1...(1 << 60))
    }
}

/// RLIMIT_AS as Glibc exports it (an enum case that Swift imports as a typed constant).
/// (RLIM_INFINITY is all ones, above Int.max, so the `< Int.max` test also skips "unlimited".)
private let RLIMIT_AS_VALUE = __rlimit_resource_t(RLIMIT_AS.rawValue)

/// `1.50 GB`, `3.25 MB`, `12.0 KB` (binary units, as `summary` prints them).
public func humanBytes(_ value: Int) -> String {
    let v = Double(value)
    if v >= 1_073_741_824 { return String(format: "%.2f GB", v / 1_073_741_824) }
    if v >= 1_048_576 { return String(format: "%.2f MB", v / 1_048_576) }
    if v >= 1024 { return String(format: "%.1f KB", v / 1024) }
    return "\(value) B"
}

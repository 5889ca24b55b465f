import Foundation
import SwiftCaffe

/// How every C entry point reports: a status code, and the message kept per thread for
/// `sc_last_error`. Swift errors never cross the boundary; each entry point runs its body
/// in `status(_:)`, which turns a thrown error into a code and a message.
enum Status {
    static let ok: Int32 = 0
    static let error: Int32 = 1
    static let notFound: Int32 = 2
    static let invalid: Int32 = 3
}

/// An error of the C surface itself (an unknown name, a null handle), with its status code.
struct CallError: Error {
    let code: Int32
    let message: String

    static func notFound(_ message: String) -> CallError { CallError(code: Status.notFound, message: message) }
    static func invalid(_ message: String) -> CallError { CallError(code: Status.invalid, message: message) }
}

/// The last message of a thread, as a C string that lives until the next failure replaces it.
/// Immutable once made, so it may be shared (the empty one, the version).
final class ErrorMessage: @unchecked Sendable {
    let text: UnsafeMutablePointer<CChar>
    init(_ message: String) { text = strdup(message) }
    deinit { free(text) }

    private static let key = "swiftcaffe.last-error"
    private static let empty = ErrorMessage("")

    static var current: ErrorMessage {
        get { Thread.current.threadDictionary[key] as? ErrorMessage ?? empty }
        set { Thread.current.threadDictionary[key] = newValue }
    }
}

/// Settings that apply to every later call (`sc_set_threads`).
enum CallSettings {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var chosenThreads = 0

    static var threads: Int {
        get { lock.withLock { chosenThreads > 0 ? chosenThreads : ProcessInfo.processInfo.activeProcessorCount } }
        set { lock.withLock { chosenThreads = max(0, newValue) } }
    }
}

/// Runs `body` on the chosen thread count and turns what it throws into a status code.
func status(_ body: () throws -> Void) -> Int32 {
    do {
        try Parallel.withThreads(CallSettings.threads, body)
        return Status.ok
    } catch let error as CallError {
        ErrorMessage.current = ErrorMessage(error.message)
        return error.code
    } catch let error as SwiftCaffeError {
        ErrorMessage.current = ErrorMessage(error.description)
        return Status.error
    } catch {
        ErrorMessage.current = ErrorMessage("\(error)")
        return Status.error
    }
}

/// A C string argument that must be there.
func string(_ pointer: UnsafePointer<CChar>?, _ what: String) throws -> String {
    guard let pointer else { throw CallError.invalid("\(what) is null") }
    return String(cString: pointer)
}

/// The object behind a handle, borrowed for the call.
func object<T: AnyObject>(_ handle: OpaquePointer?, as type: T.Type) throws -> T {
    guard let handle else { throw CallError.invalid("the \(T.self == NetHandle.self ? "net" : "solver") handle is null") }
    return Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// A new reference to `value` for the caller, which ends it with the matching close.
func handle<T: AnyObject>(_ value: T) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(value).toOpaque())
}

@_cdecl("sc_version")
public func sc_version() -> UnsafePointer<CChar> { UnsafePointer(versionText.text) }
private let versionText = ErrorMessage(SwiftCaffeVersion.current)

@_cdecl("sc_last_error")
public func sc_last_error() -> UnsafePointer<CChar> { UnsafePointer(ErrorMessage.current.text) }

@_cdecl("sc_set_threads")
public func sc_set_threads(_ threads: Int32) -> Int32 {
    status {
        guard threads >= 0 else { throw CallError.invalid("threads must be 0 (every core) or more, not \(threads)") }
        CallSettings.threads = Int(threads)
    }
}

@_cdecl("sc_free")
public func sc_free(_ pointer: UnsafeMutableRawPointer?) { free(pointer) }

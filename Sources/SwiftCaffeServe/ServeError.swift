import Hummingbird

/// An error answered to the client: an HTTP status and a message, sent as the v2 protocol's
/// `{"error": "..."}`. The message names the field at fault (`inputs[0].shape`) and the fix.
struct ServeError: Error, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String
    /// Seconds to send in `Retry-After` (a full queue, a shutdown).
    var retryAfter: Int?

    init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    static func badRequest(_ message: String) -> ServeError { ServeError(.badRequest, message) }

    var description: String { message }
}

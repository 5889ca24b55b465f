/// A position in a source file (1-based line and column), as libyaml reports it.
public struct FileLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// Every error a user can cause: a bad file, a bad shape, a bad command-line value.
///
/// It carries what a user needs to fix the problem without reading our code: where
/// (`file:line:column`), which layer, what went wrong and, when we can tell, the fix.
/// `description` renders the compiler-style one-liner the command-line tool prints.
public struct SwiftCaffeError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var location: FileLocation?
    /// The layer the problem belongs to, rendered as `layer 'conv1' (Convolution)`.
    public var layer: String?
    /// How to fix it, e.g. "did you mean 'kernel_size'?".
    public var hint: String?

    public init(_ message: String, at location: FileLocation? = nil, layer: String? = nil, hint: String? = nil) {
        self.message = bounded(message)
        self.location = location
        self.layer = layer.map { bounded($0) }
        self.hint = hint.map { bounded($0) }
    }

    public var description: String {
        var text = ""
        if let location { text += "\(location): " }
        text += "error: "
        if let layer { text += "\(layer): " }
        text += message
        if let hint { text += "; \(hint)" }
        return text
    }

    /// The same error with when it happened, e.g. "at iteration 12", after its message.
    public func during(_ moment: String) -> SwiftCaffeError {
        var copy = self
        copy.message += " (\(moment))"
        return copy
    }

    /// The same error attributed to a layer, unless it already names one.
    public func inLayer(_ layer: String, at location: FileLocation?) -> SwiftCaffeError {
        var copy = self
        if copy.layer == nil { copy.layer = layer }
        if copy.location == nil { copy.location = location }
        return copy
    }
}

/// Error text quotes what the user wrote, which may be a 40 MB scalar: keep the head and the
/// tail of anything longer than a screenful, so a message stays a message.
func bounded(_ text: String, limit: Int = 1000) -> String {
    guard text.utf8.count > limit else { return text }
    let characters = Array(text)
    guard characters.count > limit else { return text }
    let head = String(characters[..<(limit * 3 / 4)]), tail = String(characters[(characters.count - limit / 4)...])
    return head + " …(\(characters.count - limit) characters cut)… " + tail
}

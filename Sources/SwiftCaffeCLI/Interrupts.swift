import Foundation

/// Ctrl-C and SIGTERM during training: the first asks the run to snapshot and stop after the
/// current iteration; a second exits at once.
enum Interrupts {
    nonisolated(unsafe) static var count: Int32 = 0

    static var requested: Bool { count > 0 }

    /// Whether the handler says what it does (only rank 0 of an mpirun job does: mpirun
    /// passes the signal to every rank).
    nonisolated(unsafe) static var announces = true

    static func install(announcing: Bool = true) {
        announces = announcing
        let handler: @convention(c) (Int32) -> Void = { _ in
            Interrupts.count += 1
            if Interrupts.count > 1 { _exit(130) }
            guard Interrupts.announces else { return }
            // Only async-signal-safe calls here: write(2), not print.
            let message = "\nstopping after this iteration and saving a snapshot (Ctrl-C again to quit at once)\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }
}

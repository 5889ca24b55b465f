import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SwiftCaffe

/// What the model server and the training board share: a router served on `host:port`, beside
/// services of their own, until SIGINT or SIGTERM (or `shutdown()`), with the errors of taking
/// the port told in words; and the blocking form a command line calls.
final class HTTPServing: Sendable {
    let host: String
    let port: Int
    private let group = LockedBox<ServiceGroup?>(nil)

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Serves until shut down; `listening` gets the port once it listens. On shutdown the
    /// services stop in the reverse of their order, the HTTP server last.
    func run(_ router: Router<BasicRequestContext>, alongside services: [any Service] = [], label: String,
             listening: @escaping @Sendable (Int) -> Void) async throws {
        var logger = Logger(label: label)
        logger.logLevel = .error
        var configuration = ApplicationConfiguration(address: .hostname(host, port: port), serverName: "swiftcaffe")
        configuration.reuseAddress = true
        let app = Application(router: router, configuration: configuration,
                              onServerRunning: { channel in listening(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app] + services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        self.group.set(group)
        do {
            try await group.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw SwiftCaffeError("port \(port) on \(host) is in use", hint: "choose another port, or stop the program that holds it")
        } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL || error.errnoCode == EACCES {
            throw SwiftCaffeError("cannot listen on \(host):\(port): \(error)", hint: "give an address of this machine (--host), and a port above 1023 unless you are root")
        }
    }

    /// Starts the graceful shutdown that SIGTERM starts.
    func shutdown() async {
        await group.get()?.triggerGracefulShutdown()
    }

    /// `body` (a server's `run`) for a program without async code: blocks the calling thread
    /// until it returns, then rethrows what it threw.
    static func blocking(_ body: @escaping @Sendable () async throws -> Void) throws {
        let outcome = LockedBox<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await body() } catch { outcome.set(error) }
            done.signal()
        }
        done.wait()
        if let error = outcome.get() { throw error }
    }
}

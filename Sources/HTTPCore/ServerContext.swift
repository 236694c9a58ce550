import Foundation
import Synchronization

/// Everything libmicrohttpd's threads need, reached through the `void *cls` pointer.
/// `HTTPServer` keeps it alive until the daemon has stopped, so callbacks never outlive it.
final class ServerContext: Sendable {
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    let maxBodyBytes: Int
    /// Body bytes read and thrown away after the limit is hit, so the 413 can be delivered on a
    /// connection in a clean state; past this the connection is cut instead.
    let overflowDiscardBytes: Int
    let log: (@Sendable (String) -> Void)?
    let inFlight = InFlightCounter()
    /// Set by `stopAccepting()`: responses then carry "Connection: close" so keep-alive
    /// clients leave instead of sending more requests to a server that is going away.
    let draining = Atomic<Bool>(false)

    init(configuration: HTTPServerConfiguration, handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.handler = handler
        self.maxBodyBytes = configuration.maxBodyBytes
        self.overflowDiscardBytes = max(configuration.maxBodyBytes, 1 << 20)
        self.log = configuration.log
    }
}

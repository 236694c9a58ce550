import Foundation
import Synchronization

/// Everything libmicrohttpd's threads need, reached through the `void *cls` pointer.
/// `HTTPServer` keeps it alive until the daemon has stopped, so callbacks never outlive it.
final class ServerContext: @unchecked Sendable {
    // @unchecked: `suspendedResponders` is guarded by `lock`; the rest is immutable or atomic.
    let handler: @Sendable (HTTPRequest, HTTPResponder) -> Void
    let maxBodyBytes: Int
    /// Body bytes read and thrown away after the limit is hit, so the 413 can be delivered on a
    /// connection in a clean state; past this the connection is cut instead.
    let overflowDiscardBytes: Int
    let log: (@Sendable (String) -> Void)?
    let inFlight = InFlightCounter()
    /// Set by `stopAccepting()`: responses then carry "Connection: close" so keep-alive
    /// clients leave instead of sending more requests to a server that is going away.
    let draining = Atomic<Bool>(false)
    private let lock = NSCondition()
    private var suspendedResponders: [ObjectIdentifier: HTTPResponder] = [:]
    /// Streams whose reader suspended the connection for want of bytes, with the number of
    /// suspensions not yet matched by a `resumed`. A count, not a flag: a `send` resumes the
    /// connection and only then reports it, and in between libmicrohttpd may already have read
    /// the new bytes and suspended again; clearing a flag at that report would forget the new
    /// suspension, and stopping would then find a suspended connection nobody resumes.
    private var suspendedStreams: [ObjectIdentifier: (stream: HTTPStream, pending: Int)] = [:]
    /// Set by `answerSuspended`: from then on no connection may be suspended, because
    /// libmicrohttpd aborts the process if it is stopped while one is.
    private var stopping = false

    init(configuration: HTTPServerConfiguration, handler: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void) {
        self.handler = handler
        self.maxBodyBytes = configuration.maxBodyBytes
        self.overflowDiscardBytes = max(configuration.maxBodyBytes, 1 << 20)
        self.log = configuration.log
    }

    /// Records a connection about to be suspended; false once the server is stopping (the
    /// caller then answers at once instead of suspending).
    func suspending(_ responder: HTTPResponder) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard !stopping else { return false }
        suspendedResponders[ObjectIdentifier(responder)] = responder
        return true
    }

    /// Like `suspending(_:)`, for a stream's reader waiting for bytes.
    func suspending(stream: HTTPStream) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard !stopping else { return false }
        suspendedStreams[ObjectIdentifier(stream), default: (stream, 0)].pending += 1
        return true
    }

    func resumed(stream: HTTPStream) {
        lock.lock()
        let key = ObjectIdentifier(stream)
        if let entry = suspendedStreams[key] {
            suspendedStreams[key] = entry.pending > 1 ? (entry.stream, entry.pending - 1) : nil
        }
        lock.broadcast()
        lock.unlock()
    }

    func resumed(_ responder: HTTPResponder) {
        lock.lock(); suspendedResponders[ObjectIdentifier(responder)] = nil; lock.broadcast(); lock.unlock()
    }

    /// Answers every connection still waiting for its handler, so that libmicrohttpd (which
    /// refuses to stop while a connection is suspended) can close them, and returns once every
    /// resume (ours or a handler's racing with us) has been handed to libmicrohttpd.
    func answerSuspended(with response: HTTPResponse) {
        lock.lock()
        stopping = true
        let waiting = Array(suspendedResponders.values)
        let streams = suspendedStreams.values.map(\.stream)
        lock.unlock()
        for responder in waiting { responder.respond(response) }
        // A stream cut here ends without its terminating chunk: the client sees it truncated.
        for stream in streams { stream.abort() }
        lock.lock()
        while !suspendedResponders.isEmpty || !suspendedStreams.isEmpty { lock.wait() }
        lock.unlock()
    }
}

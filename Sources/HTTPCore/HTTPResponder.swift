import CMicroHTTPD
import Foundation

/// Completes one request, later and from any thread: the server suspends the connection while
/// the handler's work runs (no thread waits for it) and resumes it when `respond` is called.
///
/// Also reports a client that went away while its request was being worked on (the socket is
/// polled for hang-up while the connection is suspended), so long work can be cancelled.
public final class HTTPResponder: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    private let lock = NSLock()
    private var response: Answer?
    /// The stream this responder answered with, so a hang-up can cut it.
    private weak var stream: HTTPStream?
    private var responded = false
    /// Set while the connection is suspended, until `respond` resumes it.
    private var suspendedConnection: OpaquePointer?
    private var hungUp = false
    private var cancelHandlers: [@Sendable () -> Void] = []
    private weak var context: ServerContext?

    init(context: ServerContext) { self.context = context }

    /// Sends `response`. Only the first call counts; later ones are ignored.
    public func respond(_ response: HTTPResponse) {
        _ = answer(.complete(response))
    }

    /// Starts a streamed response (status and headers now, the body through the returned
    /// stream's `send` and `finish`). Counts as the one answer: a later `respond` or `stream`
    /// is ignored, and if this responder had already answered the returned stream drops
    /// everything sent to it. Content-Length and Transfer-Encoding are the server's business.
    public func stream(status: Int = 200, headers: HTTPHeaders = HTTPHeaders()) -> HTTPStream {
        let stream = HTTPStream(responder: self, context: context)
        if !answer(.stream(HTTPResponse(status: status, headers: headers), stream)) {
            stream.abort()
        }
        return stream
    }

    /// What a handler answered: a whole response or the head of a stream.
    enum Answer {
        case complete(HTTPResponse)
        case stream(HTTPResponse, HTTPStream)
    }

    /// Records the first answer and resumes the connection if suspended; false if already answered.
    private func answer(_ answer: Answer) -> Bool {
        lock.lock()
        guard !responded else { lock.unlock(); return false }
        responded = true
        self.response = answer
        if case .stream(_, let s) = answer { stream = s }
        let connection = suspendedConnection
        suspendedConnection = nil
        lock.unlock()
        guard let connection else { return true }   // still in the handler: queued on its return
        // Outside the lock: resuming takes the monitor's lock, which it holds while reporting
        // hang-ups to `clientWentAway` (which takes this one).
        adapter_serve_resume(connection)
        context?.resumed(self)
        return true
    }

    /// True once the client has closed its end of the connection.
    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return hungUp
    }

    /// Runs `handler` once if the client goes away before the response is sent (at once if it
    /// already has). Runs on a background queue, never on libmicrohttpd's threads.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        lock.lock()
        guard !hungUp else { lock.unlock(); Self.cancelQueue.async(execute: handler); return }
        cancelHandlers.append(handler)
        lock.unlock()
    }

    static let cancelQueue = DispatchQueue(label: "adapter-serve.http.cancel", attributes: .concurrent)

    // MARK: server side (libmicrohttpd's threads)

    /// After the handler returned, on the access handler: the response if it already answered;
    /// otherwise the connection is suspended (under the lock, so a `respond` from another thread
    /// cannot resume it before it is suspended) and nil is returned.
    func suspendUnlessAnswered(_ connection: OpaquePointer) -> Answer? {
        lock.lock(); defer { lock.unlock() }
        if responded { return takeAnswerLocked() }
        guard let context, context.suspending(self) else {
            // Stopping: answer now; the handler's own answer, when it comes, is ignored.
            responded = true
            response = .complete(.error(status: 503, code: "shutting_down", message: "the server is shutting down"))
            return response
        }
        suspendedConnection = connection
        adapter_serve_suspend(connection, Unmanaged.passUnretained(self).toOpaque())
        return nil
    }

    /// The answer, when the resumed connection calls the access handler again; taken once
    /// (a stream holds its responder, so keeping it here too would be a cycle).
    func takeAnswer() -> Answer? {
        lock.lock(); defer { lock.unlock() }
        return takeAnswerLocked()
    }

    private func takeAnswerLocked() -> Answer? {
        defer { response = nil }
        return response
    }

    /// Called on the monitor thread when the suspended connection's peer hung up, or on
    /// libmicrohttpd's thread when a stream's connection died before the stream's end.
    func clientWentAway() {
        lock.lock()
        guard !hungUp else { lock.unlock(); return }
        hungUp = true
        let handlers = cancelHandlers
        cancelHandlers = []
        let stream = self.stream
        lock.unlock()
        // Asynchronously: the monitor calls this holding its lock, which resuming takes.
        if let stream { Self.cancelQueue.async { stream.abort() } }
        for handler in handlers { Self.cancelQueue.async(execute: handler) }
    }
}

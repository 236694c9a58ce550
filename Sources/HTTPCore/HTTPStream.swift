import CMicroHTTPD
import Foundation

/// A response body written piece by piece while the work runs (server-sent events), sent with
/// chunked transfer encoding. Obtained from `HTTPResponder.stream(status:headers:)`.
///
/// libmicrohttpd pulls the body through a reader callback on its event thread. When nothing is
/// buffered the reader suspends the connection (so no thread spins or waits) and returns 0;
/// `send` and `finish` resume it, and libmicrohttpd calls the reader again. While suspended the
/// socket is watched for a hang-up like a connection waiting for `respond`, so a client that
/// leaves mid-stream is noticed at once and the responder's `onCancel` handlers run.
public final class HTTPStream: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    private let lock = NSLock()
    /// Bytes sent and not yet handed to libmicrohttpd; `readOffset` is how far it has read.
    private var buffer: [UInt8] = []
    private var readOffset = 0
    private var finished = false
    private var aborted = false
    /// Set by the reader when it suspended the connection for want of bytes.
    private var waiting = false
    /// Set (on libmicrohttpd's thread) when the response is queued, before the first read.
    private var connection: OpaquePointer?
    private weak var context: ServerContext?
    /// Kept alive here: it is the hang-up token while the connection is suspended.
    let responder: HTTPResponder

    init(responder: HTTPResponder, context: ServerContext?) {
        self.responder = responder
        self.context = context
    }

    /// Appends bytes to the body. Returns false (and drops them) once the stream has ended,
    /// the client went away or the server is stopping: the producer should stop.
    @discardableResult
    public func send(_ bytes: some Sequence<UInt8>) -> Bool {
        lock.lock()
        guard !finished && !aborted else { lock.unlock(); return false }
        buffer.append(contentsOf: bytes)
        let resume = takeWaitingConnection()
        lock.unlock()
        wake(resume)
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(text.utf8) }

    /// Ends the body once everything sent so far has been delivered. Idempotent.
    public func finish() {
        lock.lock()
        guard !finished && !aborted else { lock.unlock(); return }
        finished = true
        let resume = takeWaitingConnection()
        lock.unlock()
        wake(resume)
    }

    /// True once the client went away (or the server cut the stream): sends are dropped.
    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return aborted
    }

    // MARK: server side

    /// Must hold `lock`. The suspended connection to resume, if the reader is waiting.
    private func takeWaitingConnection() -> OpaquePointer? {
        guard waiting, let connection else { return nil }
        waiting = false
        return connection
    }

    /// Outside `lock`: resuming takes the monitor's lock, which it holds while reporting
    /// hang-ups (the hang-up path only queues `abort`, so no lock order is ever reversed).
    private func wake(_ connection: OpaquePointer?) {
        guard let connection else { return }
        adapter_serve_resume(connection)
        context?.resumed(stream: self)
    }

    /// Cuts the stream: the client left, the connection failed or the server is stopping.
    /// A suspended reader is resumed so it can end the response with an error.
    func abort() {
        lock.lock()
        guard !aborted else { lock.unlock(); return }
        aborted = true
        let resume = takeWaitingConnection()
        lock.unlock()
        wake(resume)
    }

    /// On libmicrohttpd's thread, when the response is queued on `connection`.
    func attach(_ connection: OpaquePointer) {
        lock.lock(); self.connection = connection; lock.unlock()
    }

    /// libmicrohttpd wants up to `max` bytes: buffered bytes, the end marker, or (with nothing
    /// buffered) the connection suspended until `send`, `finish` or `abort`, and 0.
    func read(into destination: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        lock.lock(); defer { lock.unlock() }
        let available = buffer.count - readOffset
        if aborted { return Int(ADAPTER_SERVE_STREAM_ERROR) }
        if available > 0 {
            let n = Swift.min(available, max)
            buffer.withUnsafeBufferPointer { source in
                UnsafeMutableRawPointer(destination).copyMemory(from: source.baseAddress! + readOffset, byteCount: n)
            }
            readOffset += n
            if readOffset == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                readOffset = 0
            }
            return n
        }
        if finished { return Int(ADAPTER_SERVE_STREAM_END) }
        guard let connection, let context, context.suspending(stream: self) else {
            // The server is stopping: a suspended connection would keep it from stopping.
            aborted = true
            return Int(ADAPTER_SERVE_STREAM_ERROR)
        }
        waiting = true
        // Under `lock`, so a `send` on another thread cannot resume before this suspends.
        adapter_serve_suspend(connection, Unmanaged.passUnretained(responder).toOpaque())
        return 0
    }

    /// The request ended (MHD_OPTION_NOTIFY_COMPLETED). Before `finish` that means the
    /// connection died mid-stream (a failed write, a timeout): the client is gone.
    func connectionClosed() {
        lock.lock()
        let wasOpen = !finished && !aborted
        aborted = aborted || !finished
        connection = nil
        lock.unlock()
        if wasOpen { responder.clientWentAway() }
    }
}

// libmicrohttpd's reader and free callbacks for stream responses (see MHDCallbacks.swift).

func mhdStreamRead(_ cls: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ max: Int) -> Int {
    guard let cls, let buffer else { return Int(ADAPTER_SERVE_STREAM_ERROR) }
    return Unmanaged<HTTPStream>.fromOpaque(cls).takeUnretainedValue().read(into: buffer, max: max)
}

func mhdStreamFree(_ cls: UnsafeMutableRawPointer?) {
    guard let cls else { return }
    Unmanaged<HTTPStream>.fromOpaque(cls).release()
}

import CMicroHTTPD
import Foundation
import Synchronization

/// A generic HTTP/1.1 server on libmicrohttpd: one epoll thread serves every connection, so
/// thousands of idle or slow clients cost no threads. Handlers answer through an
/// `HTTPResponder`, at once or later from any thread; meanwhile the connection is suspended.
///
/// Lifecycle: `start` once; for a graceful shutdown call `stopAccepting()`, then
/// `waitForInFlight(timeout:)`, then `stop()`. `stop()` alone also works but cuts idle
/// connections and waits for running handlers.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration

    private struct Running: @unchecked Sendable {
        // @unchecked: the daemon pointer is only used under `state`'s lock or after being
        // taken out of it by `stop()`, which then owns it alone.
        let daemon: OpaquePointer
        let context: ServerContext
        let port: Int
    }

    private enum Phase: Sendable {
        case idle
        case running(Running)
        case stopped(port: Int)
    }

    private let state = Mutex<Phase>(.idle)
    /// Survives `stop()` so `waitForInFlight` keeps working after the daemon is gone.
    private let counter = Mutex<InFlightCounter?>(nil)

    public init(configuration: HTTPServerConfiguration) {
        self.configuration = configuration
    }

    deinit {
        stop()
    }

    /// Binds and starts serving with a blocking handler, run on a thread of its own (never the
    /// event thread) for every complete request whose body is within `maxBodyBytes`: handlers
    /// may block for as long as they like without holding up other clients.
    public func start(handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws {
        try start(asyncHandler: { request, responder in
            let thread = Thread { responder.respond(handler(request)) }
            thread.name = "adapter-serve-http-handler"
            thread.start()
        })
    }

    /// Binds and starts serving. `handler` runs on libmicrohttpd's event thread for every
    /// complete request whose body is within `maxBodyBytes`, so it must not block: it answers
    /// with `responder.respond` at once (cheap endpoints) or later, from any thread, after
    /// handing slow work elsewhere.
    public func start(asyncHandler handler: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void) throws {
        let config = configuration
        guard (0...65535).contains(config.port) else {
            throw HTTPServerError(kind: .invalidConfiguration, message: "port \(config.port) is outside 0...65535")
        }
        guard config.maxBodyBytes >= 0, config.connectionLimit >= 1, config.connectionTimeoutSeconds >= 0,
              config.maxHeaderBytes >= 1024, config.perIPConnectionLimit >= 0, config.headerTimeoutSeconds >= 0 else {
            throw HTTPServerError(kind: .invalidConfiguration,
                                  message: "limits must be non-negative, connectionLimit >= 1, maxHeaderBytes >= 1024")
        }
        try state.withLock { phase in
            guard case .idle = phase else {
                throw HTTPServerError(kind: .alreadyStarted, message: "an HTTPServer can be started only once")
            }
            let context = ServerContext(configuration: config, handler: handler)
            let contextPointer = Unmanaged.passUnretained(context).toOpaque()
            var errorBuffer = [CChar](repeating: 0, count: 512)
            let daemon = errorBuffer.withUnsafeMutableBufferPointer { buffer in
                adapter_serve_start_daemon(
                    config.host, UInt16(config.port), UInt32(clamping: config.connectionLimit),
                    UInt32(clamping: config.perIPConnectionLimit), UInt32(clamping: config.connectionTimeoutSeconds),
                    UInt32(clamping: Int((config.headerTimeoutSeconds * 1000).rounded())), config.maxHeaderBytes,
                    UInt64(config.maxBodyBytes),
                    mhdAccessHandler, mhdRequestCompleted, mhdLog, mhdHangUp, contextPointer,
                    buffer.baseAddress, buffer.count)
            }
            guard let daemon else {
                let reason = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                throw HTTPServerError(kind: .startFailed,
                                      message: "cannot listen on \(config.host):\(config.port): \(reason)")
            }
            counter.withLock { $0 = context.inFlight }
            phase = .running(Running(daemon: daemon, context: context,
                                     port: Int(adapter_serve_bound_port(daemon))))
        }
    }

    /// The listening port (useful with `port: 0`); 0 before `start`.
    public var boundPort: Int {
        state.withLock { phase in
            switch phase {
            case .idle: 0
            case .running(let running): running.port
            case .stopped(let port): port
            }
        }
    }

    /// Open TCP connections (idle, receiving, or waiting for a handler), as libmicrohttpd
    /// reports them opening and closing.
    public var openConnections: Int {
        state.withLock { phase in
            guard case .running(let running) = phase else { return 0 }
            return Int(adapter_serve_open_connections(running.daemon))
        }
    }

    /// Connections cut because their header block missed `headerTimeoutSeconds`.
    public var headerTimeouts: Int {
        state.withLock { phase in
            guard case .running(let running) = phase else { return 0 }
            return Int(adapter_serve_header_timeouts(running.daemon))
        }
    }

    /// Requests received and not yet answered (or aborted).
    public var inFlightCount: Int {
        counter.withLock { $0?.current ?? 0 }
    }

    /// Closes the listening socket: new connections are refused, open ones are served, and
    /// their responses ask keep-alive clients to close. Idempotent.
    public func stopAccepting() {
        state.withLock { phase in
            guard case .running(let running) = phase else { return }
            running.context.draining.store(true, ordering: .relaxed)
            adapter_serve_quiesce(running.daemon)
        }
    }

    /// Blocks until no request is in flight; returns false if `timeout` elapsed first.
    /// Meant to follow `stopAccepting()`, otherwise new requests can keep it waiting.
    @discardableResult
    public func waitForInFlight(timeout: Duration? = nil) -> Bool {
        guard let inFlight = counter.withLock({ $0 }) else { return true }
        let deadline = timeout.map { Date(timeIntervalSinceNow: Double($0.components.seconds)
            + Double($0.components.attoseconds) / 1e18) }
        return inFlight.waitForZero(until: deadline)
    }

    /// Stops the daemon: closes all connections and joins libmicrohttpd's threads, so it
    /// waits for handlers that are still running. Idempotent.
    public func stop() {
        let running: Running? = state.withLock { phase in
            switch phase {
            case .idle:
                phase = .stopped(port: 0)
                return nil
            case .running(let running):
                running.context.draining.store(true, ordering: .relaxed)
                phase = .stopped(port: running.port)
                return running
            case .stopped:
                return nil
            }
        }
        guard let running else { return }
        // libmicrohttpd refuses to stop while a connection is suspended: answer those first.
        running.context.answerSuspended(with: .error(status: 503, code: "shutting_down", message: "the server is shutting down"))
        adapter_serve_stop(running.daemon)
        // The context must outlive every callback; after adapter_serve_stop there are none.
        withExtendedLifetime(running.context) {}
    }
}

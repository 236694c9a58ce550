import Foundation
import HTTPCore

/// One server-sent-events answer. The HTTP response starts only with the first event, once
/// the generation has been admitted and its adapter is known, so failures before that (an
/// unknown adapter, a full queue) still get an ordinary JSON error with its status. Every
/// method must run on `queue`, a serial queue that also orders the engine's callbacks.
final class EventStream: @unchecked Sendable {
    // @unchecked: mutable state is only touched on `queue`.
    let queue = DispatchQueue(label: "adapter-serve.api.stream")
    let responder: IdentifiedResponder
    private var stream: HTTPStream?
    /// Set once the answer is complete (finished, failed, or the client left).
    private(set) var closed = false

    init(responder: IdentifiedResponder) { self.responder = responder }

    var started: Bool { stream != nil }

    /// Sends the head: 200, `text/event-stream`, no caching, plus `headers` and the request id.
    func start(headers: HTTPHeaders) {
        guard stream == nil, !closed else { return }
        var all = headers
        all.set("Content-Type", "text/event-stream; charset=utf-8")
        all.set("Cache-Control", "no-cache")
        all.set(RequestID.header, responder.requestID)
        stream = responder.responder.stream(status: 200, headers: all)
    }

    /// One event (`event:` line only when named); false when the client is gone.
    @discardableResult
    func send(_ data: String, event: String? = nil) -> Bool {
        guard let stream, !closed else { return false }
        var text = event.map { "event: \($0)\n" } ?? ""
        // A data value cannot hold a line break: JSON from JSONSerialization never does.
        text += "data: \(data)\n\n"
        return stream.send(text)
    }

    func finish() {
        guard !closed else { return }
        closed = true
        stream?.finish()
    }

    /// Before any event: answers with `response` instead of a stream.
    func respond(_ response: HTTPResponse) {
        guard !closed else { return }
        closed = true
        responder.respond(response)
    }

    /// The client went away: nothing more is sent. Before the stream started the connection is
    /// still suspended waiting for an answer, so `response` is sent (libmicrohttpd then finds
    /// the peer gone and closes it); otherwise the stream is already cut.
    func abandon(_ response: HTTPResponse) {
        guard !closed else { return }
        closed = true
        if let stream { stream.finish() } else { responder.respond(response) }
    }
}

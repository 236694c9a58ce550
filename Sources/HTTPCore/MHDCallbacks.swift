import CMicroHTTPD
import Foundation

// libmicrohttpd calls these on its own threads through C function pointers, so they are
// plain global functions (no captures, no actor isolation); their context arrives as
// `void *` and is turned back into Swift objects with `Unmanaged`.

/// MHD's access handler. For each request it is called once when the headers are in
/// (`*reqCls == NULL`), once per body chunk, and once more with no data when the request is
/// complete; only that last call may run the handler. A handler that has not answered when it
/// returns has its connection suspended; `HTTPResponder.respond` resumes it, and MHD then calls
/// here once more, with no data, to queue the response.
func mhdAccessHandler(
    _ cls: UnsafeMutableRawPointer?,
    _ connection: OpaquePointer?,
    _ url: UnsafePointer<CChar>?,
    _ method: UnsafePointer<CChar>?,
    _ version: UnsafePointer<CChar>?,
    _ uploadData: UnsafePointer<CChar>?,
    _ uploadDataSize: UnsafeMutablePointer<Int>?,
    _ reqCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let uploadDataSize, let reqCls else { return .NO }
    let server = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()

    guard let existing = reqCls.pointee else {
        let state = RequestState(
            method: method.map { String(cString: $0) } ?? "",
            rawPath: url.map { String(cString: $0) } ?? "/",
            rawQuery: connectionValues(connection, kind: .GET_ARGUMENT_KIND),
            headers: HTTPHeaders(requestHeaderFields(connection, method: method, url: url)),  // issue 18: keeps bytes hidden behind a NUL
            remoteAddress: clientAddress(connection))
        // Counted from here; mhdRequestCompleted undoes it whether the request ends well or not.
        server.inFlight.increment()
        adapter_serve_headers_received(connection)
        reqCls.pointee = Unmanaged.passRetained(state).toOpaque()
        if !isToken(state.method) {
            // libmicrohttpd passes any bytes before the first space as the method.
            state.answered = true
            return queue(.error(status: 400, code: "invalid_method", message: "the request method is not a valid token"),
                         on: connection, server: server)
        }
        if let declared = state.headers["Content-Length"].flatMap({ UInt64($0) }), declared > UInt64(server.maxBodyBytes) {
            // Answering before reading the body: with "Expect: 100-continue" the client never
            // sends it; MHD closes the connection afterwards either way.
            state.answered = true
            return queue(payloadTooLarge(server), on: connection, server: server)
        }
        if let declared = state.headers["Content-Length"].flatMap({ Int($0) }), declared > 0 {
            state.body.reserveCapacity(declared)
        }
        return .YES
    }

    let state = Unmanaged<RequestState>.fromOpaque(existing).takeUnretainedValue()
    let chunkSize = uploadDataSize.pointee
    if chunkSize > 0 {
        uploadDataSize.pointee = 0
        if state.answered {
            return .YES
        }
        if !state.overflowed && state.body.count + chunkSize > server.maxBodyBytes {
            // Chunked bodies declare no size, so the limit is enforced on the bytes that
            // actually arrive. MHD cannot queue a response mid-body: drop what we have and
            // discard the rest until the final call.
            state.overflowed = true
            state.body = Data()
        }
        if state.overflowed {
            state.discardedBytes += chunkSize
            return state.discardedBytes > server.overflowDiscardBytes ? .NO : .YES
        }
        if let uploadData {
            uploadData.withMemoryRebound(to: UInt8.self, capacity: chunkSize) {
                state.body.append($0, count: chunkSize)
            }
        }
        return .YES
    }

    if let responder = state.responder {
        // Resumed: the handler has answered.
        state.responder = nil
        guard let answer = responder.takeAnswer() else { return .NO }
        return queue(answer, on: connection, server: server, state: state)
    }
    if state.answered {
        return .YES
    }
    state.answered = true
    if state.overflowed {
        return queue(payloadTooLarge(server), on: connection, server: server)
    }
    let request: HTTPRequest
    switch makeRequest(from: state) {
    case .success(let r): request = r
    case .failure(let rejection): return queue(rejection.response, on: connection, server: server)
    }
    let responder = HTTPResponder(context: server)
    server.handler(request, responder)
    if let answer = responder.suspendUnlessAnswered(connection) {
        return queue(answer, on: connection, server: server, state: state)
    }
    state.responder = responder
    return .YES
}

/// MHD_OPTION_NOTIFY_COMPLETED: the response was sent or the connection died. Called exactly
/// once for every request whose first access-handler call happened.
func mhdRequestCompleted(
    _ cls: UnsafeMutableRawPointer?,
    _ connection: OpaquePointer?,
    _ reqCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ reason: MHD_RequestTerminationCode
) {
    guard let cls, let reqCls, let raw = reqCls.pointee else { return }
    if let connection { adapter_serve_request_finished(connection) }
    let state = Unmanaged<RequestState>.fromOpaque(raw).takeRetainedValue()
    state.stream?.connectionClosed()
    state.stream = nil
    reqCls.pointee = nil
    Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue().inFlight.decrement()
}

func mhdLog(_ ctx: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {
    guard let ctx, let message else { return }
    let server = Unmanaged<ServerContext>.fromOpaque(ctx).takeUnretainedValue()
    server.log?(String(cString: message))
}

/// MHD's monitor (shim) saw the peer of a suspended connection hang up. `token` is the
/// responder, kept alive by its RequestState until the request completes, which cannot happen
/// before the connection is resumed.
func mhdHangUp(_ ctx: UnsafeMutableRawPointer?, _ token: UnsafeMutableRawPointer?) {
    guard let token else { return }
    Unmanaged<HTTPResponder>.fromOpaque(token).takeUnretainedValue().clientWentAway()
}

/// Why a request could not be decoded: the response to send instead.
private struct Rejection: Error { let response: HTTPResponse }

private func makeRequest(from state: RequestState) -> Result<HTTPRequest, Rejection> {
    guard let path = percentDecode(state.rawPath, plusAsSpace: false) else {
        return .failure(Rejection(response: .error(status: 400, code: "invalid_path", message: "the request path has a malformed percent-escape")))
    }
    var segments: [String] = []
    for raw in state.rawPath.split(separator: "/") {
        guard let segment = percentDecode(raw, plusAsSpace: false) else {
            return .failure(Rejection(response: .error(status: 400, code: "invalid_path", message: "the request path has a malformed percent-escape")))
        }
        segments.append(segment)
    }
    var query: [HTTPRequest.QueryItem] = []
    for (rawName, rawValue) in state.rawQuery {
        guard let name = percentDecode(rawName, plusAsSpace: true),
              let value = percentDecode(rawValue, plusAsSpace: true) else {
            return .failure(Rejection(response: .error(status: 400, code: "invalid_query", message: "the query string has a malformed percent-escape")))
        }
        query.append(.init(name: name, value: value))
    }
    let request = HTTPRequest(method: state.method, path: path, pathSegments: segments, queryItems: query,
                              headers: state.headers, body: state.body, remoteAddress: state.remoteAddress)
    state.body = Data()
    return .success(request)
}

/// RFC 9110 token: the only shape a method can have.
private func isToken(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

private func payloadTooLarge(_ server: ServerContext) -> HTTPResponse {
    .error(status: 413, code: "payload_too_large",
           message: "request body exceeds the limit of \(server.maxBodyBytes) bytes")
}

/// Headers MHD computes itself; passing them through would produce a contradictory message.
private let managedHeaders: Set<String> = ["content-length", "transfer-encoding"]

/// A handler's answer: a whole response, or a stream's head with its reader (the stream is
/// retained for libmicrohttpd until it frees the response, and remembered on `state` so a
/// connection that dies mid-stream can cut it).
private func queue(_ answer: HTTPResponder.Answer, on connection: OpaquePointer, server: ServerContext,
                   state: RequestState) -> MHD_Result {
    switch answer {
    case .complete(let response):
        return queue(response, on: connection, server: server)
    case .stream(let head, let stream):
        let cls = Unmanaged.passRetained(stream).toOpaque()
        guard let mhdResponse = adapter_serve_stream_response_create(mhdStreamRead, cls, mhdStreamFree) else {
            Unmanaged<HTTPStream>.fromOpaque(cls).release()
            stream.abort()
            return .NO
        }
        stream.attach(connection)
        state.stream = stream
        return queue(head, mhdResponse, on: connection, server: server)
    }
}

private func queue(_ response: HTTPResponse, on connection: OpaquePointer, server: ServerContext) -> MHD_Result {
    let created = response.body.withUnsafeBytes { adapter_serve_response_create($0.baseAddress, $0.count) }
    guard let mhdResponse = created else { return .NO }
    return queue(response, mhdResponse, on: connection, server: server)
}

/// Adds `response`'s headers to `mhdResponse` and queues it (dropping our reference).
private func queue(_ response: HTTPResponse, _ mhdResponse: OpaquePointer, on connection: OpaquePointer,
                   server: ServerContext) -> MHD_Result {
    let status = (100...599).contains(response.status) ? response.status : 500
    for field in response.headers where !managedHeaders.contains(field.name.lowercased()) {
        if adapter_serve_response_add_header(mhdResponse, field.name, field.value) == 0 {
            server.log?("dropped invalid response header '\(field.name)'")
        }
    }
    if server.draining.load(ordering: .relaxed) && !response.headers.contains("Connection") {
        _ = adapter_serve_response_add_header(mhdResponse, "Connection", "close")
    }
    return adapter_serve_response_queue(connection, UInt32(status), mhdResponse) == 1 ? .YES : .NO
}

/// Collects one kind of connection value (headers or query arguments) in arrival order.
private func connectionValues(_ connection: OpaquePointer, kind: MHD_ValueKind) -> [(String, String)] {
    let collector = ValueCollector()
    withExtendedLifetime(collector) {
        _ = MHD_get_connection_values(connection, kind, collectValue, Unmanaged.passUnretained(collector).toOpaque())
    }
    return collector.values
}

private final class ValueCollector {
    var values: [(String, String)] = []
}

private func collectValue(
    _ cls: UnsafeMutableRawPointer?,
    _ kind: MHD_ValueKind,
    _ key: UnsafePointer<CChar>?,
    _ value: UnsafePointer<CChar>?
) -> MHD_Result {
    guard let cls, let key else { return .YES }
    let collector = Unmanaged<ValueCollector>.fromOpaque(cls).takeUnretainedValue()
    // A query argument without "=" arrives with a NULL value.
    collector.values.append((String(cString: key), value.map { String(cString: $0) } ?? ""))
    return .YES
}

private func clientAddress(_ connection: OpaquePointer) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    let rc = buffer.withUnsafeMutableBufferPointer {
        adapter_serve_client_address(connection, $0.baseAddress, $0.count)
    }
    guard rc == 0 else { return "" }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

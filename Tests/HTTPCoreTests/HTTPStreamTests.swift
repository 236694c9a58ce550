import Foundation
import HTTPCore
import HTTPTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot signal between the test and a handler's thread. The long wait only guards
/// against a hang (the test fails instead); nothing depends on how long anything takes.
private final class Signal: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func fire() { semaphore.signal() }
    func wait() -> Bool { semaphore.wait(timeout: .now() + 60) == .success }
}

private final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

/// Decodes a chunked body (after the header block); nil when the framing is wrong or the
/// terminating chunk is missing.
func dechunk(_ bytes: [UInt8]) -> String? {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let head = text.range(of: "\r\n\r\n") else { return nil }
    var rest = Substring(text[head.upperBound...])
    var out = ""
    while let lineEnd = rest.range(of: "\r\n") {
        guard let size = Int(rest[..<lineEnd.lowerBound], radix: 16) else { return nil }
        rest = rest[lineEnd.upperBound...]
        if size == 0 { return out }
        let utf8 = Array(rest.utf8)
        guard utf8.count >= size + 2 else { return nil }
        out += String(decoding: utf8[0..<size], as: UTF8.self)
        rest = Substring(String(decoding: utf8[(size + 2)...], as: UTF8.self))
    }
    return nil
}

extension LiveServerTests {
    @Suite("HTTPStream: chunked responses written while the work runs")
    struct HTTPStreamTests {
        /// The handler sends the second event only after the client has read the first, so the
        /// first must have been delivered while the stream was open (suspended reader, resumed
        /// by `send`).
        @Test func eventsArriveAsTheyAreSent() throws {
            let clientSawFirst = Signal()
            let server = HTTPServer(configuration: testConfiguration())
            try server.start(asyncHandler: { _, responder in
                Thread.detachNewThread {
                    let stream = responder.stream(headers: ["Content-Type": "text/event-stream", "X-Kind": "test"])
                    stream.send("data: one\n\n")
                    _ = clientSawFirst.wait()
                    stream.send("data: two\n\n")
                    stream.send(Array(repeating: UInt8(ascii: "x"), count: 10_000))  // more than one reader block
                    stream.send("\n\n")
                    stream.finish()
                    #expect(!stream.send("late"))
                }
            })
            defer { server.stop() }
            let connection = try RawConnection(port: server.boundPort)
            try connection.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            let first = connection.read(until: "data: one\n\n")
            let head = String(decoding: first, as: UTF8.self)
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(head.lowercased().contains("transfer-encoding: chunked"))
            #expect(head.contains("text/event-stream"))
            #expect(!head.contains("data: two"))
            clientSawFirst.fire()
            let all = connection.read(until: "\r\n0\r\n\r\n", after: first)
            let body = try #require(dechunk(all))
            #expect(body == "data: one\n\ndata: two\n\n" + String(repeating: "x", count: 10_000) + "\n\n")
        }

        @Test func curlReadsTheWholeStream() throws {
            let server = HTTPServer(configuration: testConfiguration())
            try server.start(asyncHandler: { _, responder in
                Thread.detachNewThread {
                    let stream = responder.stream(status: 201, headers: ["Content-Type": "text/event-stream"])
                    for i in 0..<50 { stream.send("data: \(i)\n\n") }
                    stream.finish()
                }
            })
            defer { server.stop() }
            let response = try curl(["-N", "http://127.0.0.1:\(server.boundPort)/s"])
            #expect(response.status == 201)
            #expect(response.text == (0..<50).map { "data: \($0)\n\n" }.joined())
        }

        /// A client that leaves mid-stream: the responder's cancel handlers run, the stream reports
        /// it, and the next sends are refused, so a producer stops.
        @Test func hangUpMidStreamCancels() throws {
            let cancelled = Signal()
            let streamBox = Box<HTTPStream?>(nil)
            let started = Signal()
            let server = HTTPServer(configuration: testConfiguration())
            try server.start(asyncHandler: { request, responder in
                guard request.path == "/events" else { responder.respond(.text("ok")); return }
                responder.onCancel { cancelled.fire() }
                Thread.detachNewThread {
                    let stream = responder.stream(headers: ["Content-Type": "text/event-stream"])
                    streamBox.value = stream
                    stream.send("data: first\n\n")
                    started.fire()
                }
            })
            defer { server.stop() }
            do {
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(String(decoding: connection.read(until: "data: first"), as: UTF8.self).contains("data: first"))
                #expect(started.wait())
            }  // the connection closes here, with the reader suspended for want of bytes
            #expect(cancelled.wait())
            let stream = try #require(streamBox.value)
            // `abort` is queued right after the cancel handlers; a send either lands before it
            // (and is dropped with the connection) or is refused. Eventually sends are refused.
            while stream.send("data: more\n\n") { usleep(1000) }
            #expect(stream.isCancelled)
            // The server still serves.
            let after = try curl(["http://127.0.0.1:\(server.boundPort)/x"])
            #expect(after.status == 200)
        }

        /// Stopping the server with a stream waiting for bytes must not hang (libmicrohttpd
        /// refuses to stop while a connection is suspended): the stream is cut.
        @Test func stopCutsASuspendedStream() throws {
            let streamBox = Box<HTTPStream?>(nil)
            let started = Signal()
            let server = HTTPServer(configuration: testConfiguration())
            try server.start(asyncHandler: { _, responder in
                Thread.detachNewThread {
                    let stream = responder.stream()
                    streamBox.value = stream
                    stream.send("partial")
                    started.fire()
                }
            })
            let connection = try RawConnection(port: server.boundPort)
            try connection.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = connection.read(until: "partial")
            #expect(started.wait())
            server.stop()
            let rest = connection.readUntilClosed(timeout: 60)
            #expect(rest.ending == .closed)
            #expect(!String(decoding: rest.bytes, as: UTF8.self).contains("\r\n0\r\n\r\n"))
            #expect(try #require(streamBox.value).send("x") == false)
        }
    }
}

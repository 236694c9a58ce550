import Foundation
import HTTPTesting
import HTTPCore
import Synchronization
import Testing

/// Counts handler invocations, to prove rejected requests never reach the handler.
final class CallCounter: Sendable {
    private let count = Atomic<Int>(0)

    var value: Int { count.load(ordering: .sequentiallyConsistent) }

    func wrap(_ handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) -> @Sendable (HTTPRequest) -> HTTPResponse {
        { request in
            self.count.add(1, ordering: .sequentiallyConsistent)
            return handler(request)
        }
    }
}

extension LiveServerTests {
    @Suite("HTTPServer limits and malformed input")
    struct Limits {
        @Test("A declared Content-Length over the limit gets a JSON 413 before the body is sent")
        func declaredLengthOverLimit() throws {
            let scratch = try TemporaryDirectory()
            let file = try scratch.write("big.bin", testBytes(count: 4096))
            let calls = CallCounter()
            try withServer(testConfiguration(maxBodyBytes: 1024), handler: calls.wrap(echoRoutes)) { _, base in
                let response = try curl(["-H", "Expect: 100-continue", "--data-binary", "@" + file.path, base + "/raw"])
                #expect(response.status == 413)
                let error = try response.decode(ErrorBody.self).error
                #expect(error.code == "payload_too_large")
                #expect(error.message.contains("1024"))

                // A body exactly at the limit is fine.
                let exact = try scratch.write("exact.bin", testBytes(count: 1024))
                let accepted = try curl(["--data-binary", "@" + exact.path, base + "/raw"])
                #expect(accepted.status == 200)
                #expect(accepted.body == testBytes(count: 1024))
            }
            #expect(calls.value == 1)
        }

        @Test("A huge declared Content-Length with no body is answered at once, not waited for")
        func hugeDeclaredLength() throws {
            try withServer(testConfiguration(maxBodyBytes: 1024)) { server, _ in
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("POST /raw HTTP/1.1\r\nHost: test\r\nContent-Length: 99999999999\r\n\r\n")
                let (bytes, ending) = connection.readUntilClosed()
                #expect(ending == .closed)
                let response = try #require(parseFirstResponse(bytes))
                #expect(response.status == 413)
                #expect(response.text.contains("\"payload_too_large\""))
            }
        }

        @Test("Chunked uploads are accumulated within the limit")
        func chunkedWithinLimit() throws {
            let scratch = try TemporaryDirectory()
            let payload = testBytes(count: 300_000, seed: 7)
            let file = try scratch.write("chunked.bin", payload)
            try withServer { _, base in
                let response = try curl(["-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file.path, base + "/raw"])
                #expect(response.status == 200)
                #expect(response.body == payload)
            }
        }

        @Test("A chunked upload that grows past the limit gets a JSON 413 and never reaches the handler")
        func chunkedOverLimit() throws {
            let scratch = try TemporaryDirectory()
            let file = try scratch.write("chunked.bin", testBytes(count: 5000))
            let calls = CallCounter()
            try withServer(testConfiguration(maxBodyBytes: 1024), handler: calls.wrap(echoRoutes)) { _, base in
                let response = try curl(["-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file.path, base + "/raw"])
                #expect(response.status == 413)
                #expect(try response.decode(ErrorBody.self).error.code == "payload_too_large")
            }
            #expect(calls.value == 0)
        }

        @Test("Hand-written chunks: the limit counts decoded bytes across chunks")
        func rawChunksOverLimit() throws {
            try withServer(testConfiguration(maxBodyBytes: 10)) { server, _ in
                let ok = try RawConnection(port: server.boundPort)
                try ok.send("POST /raw HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    + "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")
                let accepted = try #require(parseFirstResponse(ok.readUntilClosed().bytes))
                #expect(accepted.status == 200)
                #expect(accepted.text == "helloworld")

                let over = try RawConnection(port: server.boundPort)
                try over.send("POST /raw HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    + "5\r\nhello\r\n5\r\nworld\r\n1\r\n!\r\n0\r\n\r\n")
                let rejected = try #require(parseFirstResponse(over.readUntilClosed().bytes))
                #expect(rejected.status == 413)
            }
        }

        @Test("An endless chunked upload is cut off instead of being read forever")
        func endlessChunkedUploadIsCut() throws {
            try withServer(testConfiguration(maxBodyBytes: 1024)) { server, _ in
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("POST /raw HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
                let chunk = Array("10000\r\n".utf8) + [UInt8](repeating: 0x61, count: 0x10000) + Array("\r\n".utf8)
                // The server discards at most max(limit, 1 MiB) past the limit, then closes:
                // sending must fail well before 64 MiB.
                var sent = 0
                var sendFailed = false
                while sent < 64 << 20 {
                    do {
                        try connection.send(chunk)
                        sent += chunk.count
                    } catch {
                        sendFailed = true
                        break
                    }
                }
                #expect(sendFailed)
                #expect(connection.readUntilClosed().ending == .closed)
            }
        }

        @Test("Unknown but well-formed methods reach the handler; malformed request lines never do")
        func badMethods() throws {
            let calls = CallCounter()
            // Some garbage (e.g. NUL bytes) makes libmicrohttpd wait for more input; the short
            // connection timeout is what ends those.
            try withServer(testConfiguration(timeout: 2), handler: calls.wrap(echoRoutes)) { server, base in
                let brew = try RawConnection(port: server.boundPort)
                try brew.send("BREW /only-get HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                #expect(parseFirstResponse(brew.readUntilClosed().bytes)?.status == 405)

                let control = try RawConnection(port: server.boundPort)
                try control.send("G\u{1}T /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                let rejected = try #require(parseFirstResponse(control.readUntilClosed().bytes))
                #expect(rejected.status == 400)
                #expect(rejected.text.contains("\"invalid_method\""))

                // libmicrohttpd answers these with an error status or just closes the connection.
                for garbage in ["GET\r\n\r\n", "\u{0}\u{1}\u{2} junk\r\n\r\n",
                                "GET /echo HTTP/9.9\r\nHost: t\r\nConnection: close\r\n\r\n",
                                "GET /echo HTTP/1.1\r\nno colon here\r\nConnection: close\r\n\r\n"] {
                    let connection = try RawConnection(port: server.boundPort)
                    try connection.send(garbage)
                    let (bytes, ending) = connection.readUntilClosed(timeout: 30)
                    #expect(ending == .closed, "\(garbage.debugDescription)")
                    if let status = parseFirstResponse(bytes)?.status {
                        #expect(status >= 400 && status < 600, "\(garbage.debugDescription) -> \(status)")
                    }
                }
                #expect(try curl([base + "/only-get"]).status == 200)  // still serving
            }
            #expect(calls.value == 2)
        }

        @Test("Headers beyond maxHeaderBytes are rejected by libmicrohttpd and the server keeps serving")
        func hugeHeaders() throws {
            let calls = CallCounter()
            try withServer(testConfiguration(maxHeaderBytes: 16 << 10), handler: calls.wrap(echoRoutes)) { server, base in
                let connection = try RawConnection(port: server.boundPort)
                try? connection.send("GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "a", count: 64 << 10)
                    + "\r\n\r\n")
                let (bytes, ending) = connection.readUntilClosed()
                #expect(ending == .closed)
                let status = parseFirstResponse(bytes)?.status
                #expect(status == 431 || status == 413 || status == nil)  // nil: closed before answering

                let longURL = try RawConnection(port: server.boundPort)
                try? longURL.send("GET /" + String(repeating: "b", count: 64 << 10) + " HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(longURL.readUntilClosed().ending == .closed)

                #expect(try curl([base + "/only-get"]).status == 200)
            }
            #expect(calls.value == 1)
        }

        @Test("A client that stalls mid-headers (slowloris) is disconnected by the connection timeout")
        func slowloris() throws {
            var configuration = testConfiguration(timeout: 1)
            configuration.headerTimeoutSeconds = 0   // only the inactivity timeout here
            try withServer(configuration) { server, base in
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                // No check that the connection is open first: on a loaded machine the 1 s timeout
                // can close it before a poll would see it. The server closing it is the point.
                // Bounded wait far above the 1 s timeout: the server must close first.
                let (_, ending) = connection.readUntilClosed(timeout: 30)
                #expect(ending == .closed)
                // The server's own accounting saw it go, and a new client is answered.
                for _ in 0..<60_000 where server.openConnections > 0 { usleep(500) }
                #expect(server.openConnections == 0)
                #expect(try curl([base + "/only-get"]).status == 200)
            }
        }

        @Test("A client that trickles header lines (never idle) is cut at the header deadline")
        func trickledHeaders() throws {
            var configuration = testConfiguration(timeout: 600)
            configuration.headerTimeoutSeconds = 1
            try withServer(configuration) { server, base in
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("GET /echo HTTP/1.1\r\nHost: t\r\n")
                // One header line every 50 ms: never idle for the 600 s inactivity timeout, so only
                // the deadline can end it. The loop bound is a hang guard, not a timing assertion.
                var cut = false
                for i in 0..<2_000 {
                    if (try? connection.send("X-Line-\(i): y\r\n")) == nil { cut = true; break }
                    usleep(50_000)
                }
                #expect(cut)
                #expect(server.headerTimeouts == 1)
                #expect(try curl([base + "/only-get"]).status == 200)
            }
        }

        @Test("A stalled upload is disconnected by the timeout and leaves no request in flight")
        func stalledBody() throws {
            let calls = CallCounter()
            try withServer(testConfiguration(timeout: 1), handler: calls.wrap(echoRoutes)) { server, _ in
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a few bytes")
                #expect(connection.readUntilClosed(timeout: 30).ending == .closed)
                #expect(server.waitForInFlight(timeout: .seconds(10)))
            }
            #expect(calls.value == 0)
        }
    }
}

import Foundation
import HTTPCore
import HTTPTesting
import Testing

extension LiveServerTests {
    /// Issue 11: framing errors libmicrohttpd 0.9.75 answered with a duplicated header block
    /// (bad or overflowing Content-Length) now get exactly one well-formed JSON response from
    /// the gate; a malformed chunk size inside a body is still libmicrohttpd's own single HTML 400.
    @Suite("Framing errors get exactly one response")
    struct FramingErrors {
        /// Everything the server sends before it closes, which must be one response and no more.
        func exchange(_ port: Int, _ request: String) throws -> (bytes: [UInt8], response: RawResponse?) {
            let connection = try RawConnection(port: port)
            try connection.send(request)
            let (bytes, ending) = connection.readUntilClosed(timeout: 30)
            #expect(ending == .closed, "the server closes after a framing error")
            return (bytes, parseFirstResponse(bytes))
        }

        /// Sends `request`, half-closes, and reads until the server closes. With the header and
        /// idle deadlines far beyond the read bound (`patient`), only the server's hang-up
        /// handling can end the exchange in time.
        func halfClose(_ port: Int, after request: String) throws -> (bytes: [UInt8], ending: RawConnection.Ending) {
            let connection = try RawConnection(port: port)
            try connection.send(request)
            connection.finishSending()
            return connection.readUntilClosed(timeout: 30)
        }

        var patient: HTTPServerConfiguration {
            var configuration = testConfiguration(timeout: 600)
            configuration.headerTimeoutSeconds = 600
            return configuration
        }

        func statusLines(_ bytes: [UInt8]) -> Int {
            String(decoding: bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 ").count - 1
        }

        @Test("Bad, overflowing, oversized and conflicting Content-Length: one JSON response each",
              arguments: [
                  ("-5", 400, "invalid_content_length"),
                  ("12abc", 400, "invalid_content_length"),
                  ("", 400, "invalid_content_length"),
                  ("99999999999999999999999", 413, "payload_too_large"),
                  ("18446744073709551615", 413, "payload_too_large"),
                  ("5\r\nContent-Length: 6", 400, "invalid_content_length"),
              ])
        func contentLength(value: String, status: Int, code: String) throws {
            try withServer { server, _ in
                let (bytes, response) = try exchange(server.boundPort, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(value)\r\n\r\n")
                #expect(statusLines(bytes) == 1, "exactly one status line: \(String(decoding: bytes, as: UTF8.self))")
                let r = try #require(response)
                #expect(r.status == status)
                #expect(r.headers["content-type"]?.hasPrefix("application/json") == true)
                #expect(Int(r.headers["content-length"] ?? "") == r.body.count)
                let json = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
                let error = json?["error"] as? [String: Any]
                #expect(error?["code"] as? String == code)
                #expect((error?["message"] as? String)?.isEmpty == false)
                // Nothing after the one response.
                let headerEnd = bytes.firstRange(of: Array("\r\n\r\n".utf8))!.upperBound
                #expect(bytes.count == headerEnd + r.body.count)
            }
        }

        /// Request lines and header lines that libmicrohttpd answered with its HTML page, or by
        /// closing without a word, get one JSON answer from the gate (400, or 505 for another HTTP version).
        @Test("Malformed request and header lines: one JSON response each",
              arguments: [
                  ("GARBAGE\r\n\r\n", 400, "invalid_request_line"),
                  ("GET /echo HTTP/2.0\r\nHost: t\r\n\r\n", 505, "http_version_not_supported"),
                  ("GET /echo\r\nHost: t\r\n\r\n", 400, "invalid_request_line"),
                  ("G(T /echo HTTP/1.1\r\nHost: t\r\n\r\n", 400, "invalid_method"),
                  ("GET /echo HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", 400, "invalid_header"),
                  ("GET /echo HTTP/1.1\r\nHost : t\r\n\r\n", 400, "invalid_header"),
                  ("GET /echo HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n", 400, "invalid_header"),
                  ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "unsupported_transfer_encoding"),
                  ("GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "missing_host"),
                  ("GET /echo HTTP/1.1\r\nHost: t\r\nX-A: a\u{0}b\r\n\r\n", 400, "invalid_header"),
                  ("GET /echo HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400, "invalid_header"),
                  ("GET /echo HTTP/1.1\r\nHost: t\r\nUser-Agent: x\u{1B}[31m\r\n\r\n", 400, "invalid_header"),
                  ("GET /echo HTTP/1.1\r\nHost: t\u{7F}\r\n\r\n", 400, "invalid_header"),
                  ("GET /ec\u{0}ho HTTP/1.1\r\nHost: t\r\n\r\n", 400, "invalid_request_line"),
              ])
        func malformedLines(request: String, status: Int, code: String) throws {
            try withServer { server, _ in
                let (bytes, response) = try exchange(server.boundPort, request)
                #expect(statusLines(bytes) == 1, "exactly one status line: \(String(decoding: bytes, as: UTF8.self))")
                let r = try #require(response, "no response to \(request.debugDescription)")
                #expect(r.status == status)
                let json = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
                #expect((json?["error"] as? [String: Any])?["code"] as? String == code)
            }
        }

        /// With a header deadline far beyond the test's read bound, only the half-close can
        /// bring the answer: a client that stops sending mid-headers gets one 400 at once.
        @Test("A client that stops sending mid-headers gets one 400, not a wait for the deadline")
        func halfClosedMidHeaders() throws {
            try withServer(patient) { server, _ in
                let (bytes, ending) = try halfClose(server.boundPort, after: "GET /echo HTTP/1.1\r\nHost: t\r\nX-Partial: ")
                #expect(ending == .closed)
                let r = try #require(parseFirstResponse(bytes), "no answer: \(String(decoding: bytes, as: UTF8.self))")
                #expect(r.status == 400)
                let json = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
                #expect((json?["error"] as? [String: Any])?["code"] as? String == "incomplete_request")
            }
        }

        /// A body shorter than its Content-Length, then a half-close: the request can never
        /// complete. With the idle timeout far beyond the test's read bound, only the monitor's
        /// hang-up handling can end it in time.
        @Test("A client that stops sending mid-body is disconnected, not held until the idle timeout")
        func halfClosedMidBody() throws {
            try withServer(patient) { server, _ in
                let (_, ending) = try halfClose(server.boundPort, after: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly part of it")
                #expect(ending == .closed)
            }
        }

        @Test("HTTP/1.0 without Host and Transfer-Encoding: chunked still pass the gate")
        func soundVariants() throws {
            try withServer { server, _ in
                let (bytes, response) = try exchange(server.boundPort, "GET /only-get HTTP/1.0\r\n\r\n")
                #expect(statusLines(bytes.count > 0 ? bytes : []) <= 1 && response?.status == 200, "\(String(decoding: bytes, as: UTF8.self))")
                let (_, chunked) = try exchange(server.boundPort,
                                                "POST /raw HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
                #expect(chunked?.status == 200 && chunked.map { String(decoding: $0.body, as: UTF8.self) } == "hi")
            }
        }

        @Test("A malformed chunk size is libmicrohttpd's single HTML 400 (documented)")
        func badChunkSize() throws {
            try withServer { server, _ in
                let (bytes, response) = try exchange(server.boundPort,
                                                     "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                #expect(statusLines(bytes) == 1)
                #expect(response?.status == 400)
            }
        }

        @Test("Bare LF line endings pass the gate, as libmicrohttpd accepts them")
        func bareLineFeeds() throws {
            try withServer { server, _ in
                let (bytes, response) = try exchange(server.boundPort, "GET /only-get HTTP/1.1\nHost: t\nConnection: close\n\n")
                #expect(statusLines(bytes) == 1)
                #expect(response?.status == 200)
            }
        }

        @Test("A sound request after the gate is served normally, keep-alive included")
        func soundRequests() throws {
            try withServer { server, _ in
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcPOST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nde")
                let (bytes, _) = connection.readUntilClosed(timeout: 30)
                #expect(statusLines(bytes) == 2)
                #expect(String(decoding: bytes, as: UTF8.self).hasSuffix("de"))
            }
        }
    }
}

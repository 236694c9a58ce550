import Foundation
import HTTPTesting
import HTTPCore
import Testing

extension LiveServerTests {
    @Suite("HTTPServer requests and responses")
    struct Routing {
        @Test("GET decodes the path, path segments and query parameters")
        func getWithQueryAndPercentEncoding() throws {
            try withServer { _, base in
                let response = try curl([base + "/echo/a%20b/c%2Fd/%E2%9C%93?x=1&y=hello+world&z=%E2%9C%93&flag&x=2&e=a%3Db%26c"])
                #expect(response.status == 200)
                #expect(response.headers["content-type"] == "application/json; charset=utf-8")
                let echo = try response.decode(EchoReply.self)
                #expect(echo.method == "GET")
                #expect(echo.path == "/echo/a b/c/d/✓")
                #expect(echo.segments == ["echo", "a b", "c/d", "✓"])
                #expect(echo.query == [["x", "1"], ["y", "hello world"], ["z", "✓"], ["flag", ""], ["x", "2"],
                                       ["e", "a=b&c"]])
                #expect(echo.remoteAddress == "127.0.0.1")
                #expect(echo.body.isEmpty)
            }
        }

        @Test("POST, PUT and DELETE deliver their bodies byte for byte", arguments: ["POST", "PUT", "DELETE"])
        func methodsWithBodies(method: String) throws {
            let scratch = try TemporaryDirectory()
            var payload = Data((0...255).map { UInt8($0) })
            payload.append(testBytes(count: 100_000))
            let file = try scratch.write("payload.bin", payload)
            try withServer { _, base in
                let raw = try curl(["-X", method, "--data-binary", "@" + file.path,
                                    "-H", "Content-Type: application/octet-stream", base + "/raw"])
                #expect(raw.status == 200)
                #expect(raw.body == payload)

                let echo = try curl(["-X", method, "--data-binary", "{\"k\":1}", base + "/echo/item?id=7"]).decode(EchoReply.self)
                #expect(echo.method == method)
                #expect(echo.body == Data("{\"k\":1}".utf8))
                #expect(echo.headers["content-length"] == "7")
            }
        }

        @Test("Request headers are looked up case-insensitively; response headers reach the client")
        func headers() throws {
            try withServer { _, base in
                let response = try curl(["-H", "X-Custom-Thing: Value 1", base + "/header"])
                #expect(response.status == 200)
                #expect(response.text == "Value 1")
                #expect(response.headers["x-reply"] == "seen Value 1")
                #expect(response.headers["Content-Type"] == "text/plain; charset=utf-8")
            }
        }

        @Test("404 and 405 from the handler use the JSON error shape")
        func notFoundAndMethodNotAllowed() throws {
            try withServer { _, base in
                let missing = try curl([base + "/nope"])
                #expect(missing.status == 404)
                #expect(try missing.decode(ErrorBody.self) == ErrorBody(error: .init(code: "not_found", message: "no route for /nope")))

                let wrongMethod = try curl(["-X", "PATCH", "--data-binary", "x", base + "/only-get"])
                #expect(wrongMethod.status == 405)
                #expect(wrongMethod.headers["allow"] == "GET")
                #expect(try wrongMethod.decode(ErrorBody.self).error.code == "method_not_allowed")

                #expect(try curl([base + "/only-get"]).text == "got it")
            }
        }

        @Test("A malformed percent-escape in the path is a 400 before the handler runs")
        func malformedEscape() throws {
            try withServer { _, base in
                let response = try curl([base + "/echo/bad%zzescape"])
                #expect(response.status == 400)
                #expect(try response.decode(ErrorBody.self).error.code == "invalid_path")

                let badQuery = try curl([base + "/echo?x=%E2%9C"])  // truncated UTF-8 sequence
                #expect(badQuery.status == 400)
                #expect(try badQuery.decode(ErrorBody.self).error.code == "invalid_query")
            }
        }

        @Test("HEAD gets the headers (with the GET length) but no body")
        func head() throws {
            try withServer { server, _ in
                let connection = try RawConnection(port: server.boundPort)
                try connection.send("HEAD /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                let (bytes, ending) = connection.readUntilClosed()
                #expect(ending == .closed)
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(text.hasPrefix("HTTP/1.1 200"))
                #expect(text.hasSuffix("\r\n\r\n"))
                #expect(parseFirstResponse(bytes)?.headers["content-length"].flatMap(Int.init) ?? 0 > 0)
            }
        }

        @Test("The error helper produces exactly {\"error\": {\"code\", \"message\"}}")
        func errorShape() throws {
            let response = HTTPResponse.error(status: 422, code: "bad_rank", message: "rank must be \"positive\"",
                                              headers: ["X-Request-Id": "42"])
            #expect(response.status == 422)
            #expect(String(decoding: response.body, as: UTF8.self)
                == #"{"error":{"code":"bad_rank","message":"rank must be \"positive\""}}"#)
            #expect(response.headers["content-type"] == "application/json; charset=utf-8")
            #expect(response.headers["x-request-id"] == "42")

            let upload = HTTPResponse.error(status: 400, code: "unsafe_tar_entry", message: "'../x' has a '..' component")
            #expect(upload.status == 400)
            let decoded = try JSONDecoder().decode(ErrorBody.self, from: upload.body)
            #expect(decoded.error == .init(code: "unsafe_tar_entry", message: "'../x' has a '..' component"))
        }

        @Test("HTTPHeaders keeps order and duplicates and ignores case")
        func headerContainer() {
            var headers: HTTPHeaders = ["Set-Cookie": "a=1", "content-type": "text/plain"]
            headers.add("SET-COOKIE", "b=2")
            #expect(headers["set-cookie"] == "a=1")
            #expect(headers.values(for: "Set-Cookie") == ["a=1", "b=2"])
            #expect(headers["Content-Type"] == "text/plain")
            headers.set("Set-Cookie", "c=3")
            #expect(headers.values(for: "set-cookie") == ["c=3"])
            #expect(headers["Content-Typ"] == nil)
            headers.remove("CONTENT-TYPE")
            #expect(!headers.contains("content-type"))
        }
    }
}

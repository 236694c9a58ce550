import Foundation
import HTTPCore
import Uploads

func testConfiguration(maxBodyBytes: Int = 1 << 20, connectionLimit: Int = 64, timeout: Int = 20,
                       maxHeaderBytes: Int = 32 << 10) -> HTTPServerConfiguration {
    HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes, connectionLimit: connectionLimit,
                            connectionTimeoutSeconds: timeout, maxHeaderBytes: maxHeaderBytes)
}

/// Runs `body` against a server on a free port, stopping it afterwards whatever happens.
func withServer<T>(_ configuration: HTTPServerConfiguration = testConfiguration(),
                   handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse = echoRoutes,
                   _ body: (HTTPServer, String) throws -> T) throws -> T {
    let server = HTTPServer(configuration: configuration)
    try server.start(handler: handler)
    defer { server.stop() }
    return try body(server, "http://127.0.0.1:\(server.boundPort)")
}

/// What the echo route saw, so tests can assert on the parsed request.
struct EchoReply: Codable, Equatable {
    var method: String
    var path: String
    var segments: [String]
    var query: [[String]]
    var headers: [String: String]
    var body: Data
    var remoteAddress: String
}

/// A small router standing in for the real API.
@Sendable
func echoRoutes(_ request: HTTPRequest) -> HTTPResponse {
    switch request.pathSegments.first {
    case "echo":
        var headers: [String: String] = [:]
        for field in request.headers where headers[field.name.lowercased()] == nil {
            headers[field.name.lowercased()] = field.value
        }
        let reply = EchoReply(method: request.method, path: request.path, segments: request.pathSegments,
                              query: request.queryItems.map { [$0.name, $0.value] }, headers: headers,
                              body: request.body, remoteAddress: request.remoteAddress)
        return .json(reply, headers: ["X-Echo-Method": request.method])
    case "raw":
        return HTTPResponse(status: 200, headers: ["Content-Type": "application/octet-stream"], body: request.body)
    case "only-get":
        guard request.method == "GET" else {
            return .error(status: 405, code: "method_not_allowed", message: "use GET", headers: ["Allow": "GET"])
        }
        return .text("got it")
    case "header":
        let value = request.headers["x-custom-thing"] ?? "(missing)"
        return .text(value, headers: ["X-Reply": "seen " + value])
    case "multipart":
        do {
            let parts = try MultipartFormData.parse(body: request.body,
                                                    contentType: request.headers["Content-Type"] ?? "")
            return .json(parts.map { PartSummary(name: $0.name, filename: $0.filename, contentType: $0.contentType,
                                                 data: $0.data) })
        } catch {
            return .error(status: 400, code: error.code.rawValue, message: error.message)
        }
    default:
        return .error(status: 404, code: "not_found", message: "no route for \(request.path)")
    }
}

struct PartSummary: Codable, Equatable {
    var name: String
    var filename: String?
    var contentType: String?
    var data: Data
}

import Foundation

/// What a handler returns. Content-Length is computed by the server; do not set it.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Encodes `value` as the body. An encoding failure is a server bug, so it becomes a 500
    /// in the standard error shape rather than a crash.
    public static func json(status: Int = 200, _ value: some Encodable, encoder: JSONEncoder = JSONEncoder(),
                            headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        do {
            return json(status: status, rawJSON: try encoder.encode(value), headers: headers)
        } catch {
            return .error(status: 500, code: "internal_error", message: "could not encode response: \(error)")
        }
    }

    /// Uses `rawJSON` as the body unchanged (the caller vouches that it is JSON).
    public static func json(status: Int = 200, rawJSON: Data, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var all = headers
        if !all.contains("Content-Type") {
            all.add("Content-Type", "application/json; charset=utf-8")
        }
        return HTTPResponse(status: status, headers: all, body: rawJSON)
    }

    public static func text(status: Int = 200, _ text: String, contentType: String = "text/plain; charset=utf-8",
                            headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var all = headers
        if !all.contains("Content-Type") {
            all.add("Content-Type", contentType)
        }
        return HTTPResponse(status: status, headers: all, body: Data(text.utf8))
    }

    /// The one error shape of the API: {"error": {"code": "...", "message": "..."}}.
    /// Clients branch on `code` (stable, machine-readable); `message` is for people.
    public static func error(status: Int, code: String, message: String,
                             headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        let body = ErrorBody(error: .init(code: code, message: message))
        // Two string fields always encode; the fallback only keeps this total.
        let data = (try? errorEncoder.encode(body)) ?? Data(#"{"error":{"code":"internal_error","message":""}}"#.utf8)
        return json(status: status, rawJSON: data, headers: headers)
    }
}

/// Decodable so clients and tests can read the error shape with the same type.
public struct ErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var code: String
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var error: Detail

    public init(error: Detail) {
        self.error = error
    }
}

private let errorEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}()

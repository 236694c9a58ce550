import Foundation
import HTTPCore
import Serving

/// A failure on the OpenAI-compatible paths, in OpenAI's error shape
/// `{"error": {"message", "type", "param", "code"}}`, which the official clients parse into their
/// exception types (`BadRequestError`, `NotFoundError`, ...). `param` names the request field to
/// fix when there is one.
struct OpenAIError: Error {
    let status: Int
    let code: String
    let message: String
    let param: String?
    var retryAfterSeconds: Int?
    var allow: [String] = []

    init(status: Int, code: String, message: String, param: String? = nil) {
        self.status = status; self.code = code; self.message = message; self.param = param
    }

    init(_ e: ServiceError, param: String? = nil) {
        self.init(status: APIServer.status(e.kind), code: e.code, message: e.message, param: param)
        retryAfterSeconds = e.retryAfterSeconds
    }

    static func invalid(_ param: String, _ message: String, code: String = "invalid_value") -> OpenAIError {
        OpenAIError(status: 400, code: code, message: message, param: param)
    }

    /// A field we do not implement, sent with a value that would change the output.
    static func unsupported(_ param: String, neutral: String) -> OpenAIError {
        invalid(param, "\(param) is not supported by this server; it is accepted only with its neutral value (\(neutral))",
                code: "unsupported_parameter")
    }

    /// OpenAI's `type` for the status, as its API reports it.
    var type: String {
        switch status {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 429: "rate_limit_error"
        case 500...: "server_error"
        default: "invalid_request_error"
        }
    }

    var response: HTTPResponse {
        var headers = HTTPHeaders()
        if let retryAfterSeconds { headers.set("Retry-After", String(retryAfterSeconds)) }
        if !allow.isEmpty { headers.set("Allow", allow.joined(separator: ", ")) }
        let body: [String: Any] = ["error": ["message": message, "type": type, "param": param.map { $0 as Any } ?? NSNull(), "code": code]]
        return .json(status: status, rawJSON: APIServer.json(body), headers: headers)
    }
}

extension JSONBody {
    /// Runs one of JSONBody's typed accessors, reporting its error with the field as `param`.
    func openAI<T>(_ key: String, _ get: (JSONBody) throws(ServiceError) -> T) throws(OpenAIError) -> T {
        do { return try get(self) } catch { throw OpenAIError(status: 400, code: "invalid_type", message: error.message, param: key) }
    }
}

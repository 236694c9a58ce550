/// A failure the service reports to a client: an HTTP status, a stable machine code and a
/// message saying what to change. Every layer's errors are mapped into this one shape.
public struct ServiceError: Error, CustomStringConvertible, Equatable, Sendable {
    public let status: Int
    public let code: String
    public let message: String
    public var retryAfterSeconds: Int?

    public init(_ status: Int, _ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status; self.code = code; self.message = message; self.retryAfterSeconds = retryAfterSeconds
    }
    public var description: String { message }

    public static func badRequest(_ m: String) -> ServiceError { ServiceError(400, "invalid_request", m) }
    public static func notFound(_ code: String, _ m: String) -> ServiceError { ServiceError(404, code, m) }
    public static func conflict(_ code: String, _ m: String) -> ServiceError { ServiceError(409, code, m) }
    public static func unprocessable(_ code: String, _ m: String) -> ServiceError { ServiceError(422, code, m) }
}

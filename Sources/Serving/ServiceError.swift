/// A failure the service reports to a client: what kind of failure it is, a stable machine code
/// and a message saying what to change. Every layer's errors are mapped into this one shape;
/// only the HTTP layer (API) turns `kind` into a status code, in one place.
public struct ServiceError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// The request is malformed or names something impossible (a bad name, a bad field).
        case invalidRequest
        /// An admin operation without valid credentials.
        case unauthorized
        case notFound
        /// The operation exists but not with this method (routing in the API layer).
        case methodNotAllowed
        /// The state forbids it now (the name exists, the adapter serves a task, a link in the store).
        case conflict
        case payloadTooLarge
        /// Well-formed but unusable (an adapter that does not fit the base, parameters out of range).
        case unprocessable
        /// The client went away before the answer was ready.
        case cancelled
        /// Busy or shutting down: retry later (`retryAfterSeconds`).
        case unavailable
        /// The work did not finish within the request's time limit.
        case timeout
        /// The adapter memory budget cannot take it.
        case insufficientStorage
        /// Our fault (storage failure, a bug).
        case internalFailure
    }

    public let kind: Kind
    public let code: String
    public let message: String
    public var retryAfterSeconds: Int?

    public init(_ kind: Kind, _ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.kind = kind; self.code = code; self.message = message; self.retryAfterSeconds = retryAfterSeconds
    }
    public var description: String { message }

    public static func badRequest(_ m: String) -> ServiceError { ServiceError(.invalidRequest, "invalid_request", m) }
    public static func notFound(_ code: String, _ m: String) -> ServiceError { ServiceError(.notFound, code, m) }
    public static func conflict(_ code: String, _ m: String) -> ServiceError { ServiceError(.conflict, code, m) }
    public static func unprocessable(_ code: String, _ m: String) -> ServiceError { ServiceError(.unprocessable, code, m) }
}

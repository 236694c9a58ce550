import Foundation
import Logging
import Serving

/// The id that ties a request's response to its log lines. A client's `X-Request-Id` is kept when
/// it is safe to echo and to log (at most 128 of `[A-Za-z0-9._-]`: no header or log injection);
/// anything else is replaced by a fresh one rather than refused, so tracing never fails a request.
public enum RequestID {
    public static let header = "X-Request-Id"
    public static let maxLength = 128

    /// The id bound for the request being handled (Serving's RequestContext, which also carries
    /// it onto the engine thread); the metadata provider copies it onto every log line.
    public static var current: String? { RequestContext.requestID }

    /// Runs `body` with `id` as the current request id.
    public static func with<T>(_ id: String, _ body: () throws -> T) rethrows -> T {
        try RequestContext.$requestID.withValue(id, operation: body)
    }

    public static func accept(_ given: String?) -> String {
        if let given, isValid(given) { return given }
        return generate()
    }

    public static func isValid(_ s: String) -> Bool {
        (1...maxLength).contains(s.utf8.count) && s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
        }
    }

    /// 32 lowercase hex digits (a random UUID without dashes).
    public static func generate() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// For `LoggingSystem.bootstrap(_:metadataProvider:)`: adds `request_id` to every line logged
    /// while a request is being handled.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let id = current else { return [:] }
        return ["request_id": .string(id)]
    }
}

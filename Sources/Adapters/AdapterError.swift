/// Why an adapter cannot be used, in words a user can act on. `code` is a stable machine name
/// the HTTP layer puts in its error body.
public struct AdapterError: Error, CustomStringConvertible, Equatable, Sendable {
    public let code: String
    public let message: String
    public init(_ code: String, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }

    static func invalid(_ message: String) -> AdapterError { AdapterError("invalid_adapter", message) }
    static func unsupported(_ message: String) -> AdapterError { AdapterError("unsupported_adapter", message) }
    static func mismatch(_ message: String) -> AdapterError { AdapterError("adapter_base_mismatch", message) }
}

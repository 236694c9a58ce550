/// An error from reading tensors, with a message a user can act on.
public struct NumericsError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Why `HTTPServer.start` failed; `message` includes libmicrohttpd's own explanation when it gave one.
public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        case invalidConfiguration
        case alreadyStarted
        case startFailed
    }

    public var kind: Kind
    public var message: String

    public var description: String { message }
}

import Foundation

/// One complete request as the handler sees it: the whole body has been received and was
/// within the server's size limit.
public struct HTTPRequest: Sendable {
    public struct QueryItem: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// As sent, e.g. "GET"; methods are case-sensitive in HTTP.
    public var method: String
    /// Percent-decoded, without the query string. "%2F" becomes "/" here; use
    /// `pathSegments` when a segment may legitimately contain a slash.
    public var path: String
    /// The path split on "/" before decoding, each segment decoded; empty segments dropped.
    public var pathSegments: [String]
    /// Decoded query parameters in order ("+" means space, as in HTML forms).
    public var queryItems: [QueryItem]
    public var headers: HTTPHeaders
    public var body: Data
    /// Numeric peer address ("127.0.0.1", "::1"), or "" if unknown.
    public var remoteAddress: String

    public init(method: String, path: String, pathSegments: [String]? = nil, queryItems: [QueryItem] = [],
                headers: HTTPHeaders = HTTPHeaders(), body: Data = Data(), remoteAddress: String = "") {
        self.method = method
        self.path = path
        self.pathSegments = pathSegments ?? path.split(separator: "/").map(String.init)
        self.queryItems = queryItems
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The first value of query parameter `name`.
    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }
}

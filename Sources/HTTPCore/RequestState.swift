import Foundation

/// Per-request state between libmicrohttpd's calls for one request. Only ever touched on
/// libmicrohttpd's polling thread, one call at a time.
final class RequestState {
    let method: String
    let rawPath: String
    let rawQuery: [(String, String)]
    let headers: HTTPHeaders
    let remoteAddress: String
    var body = Data()
    var overflowed = false
    var discardedBytes = 0
    var answered = false
    /// Set once the handler has been called; it answers through this, maybe later.
    var responder: HTTPResponder?
    /// Set once a streamed answer is queued, until the request completes.
    var stream: HTTPStream?

    init(method: String, rawPath: String, rawQuery: [(String, String)], headers: HTTPHeaders, remoteAddress: String) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.remoteAddress = remoteAddress
    }
}

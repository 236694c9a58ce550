import Foundation

/// Per-request state between libmicrohttpd's calls for one request. Only ever touched on
/// that connection's thread, one call at a time.
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

    init(method: String, rawPath: String, rawQuery: [(String, String)], headers: HTTPHeaders, remoteAddress: String) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.remoteAddress = remoteAddress
    }
}

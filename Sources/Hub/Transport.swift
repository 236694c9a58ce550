import CHub
import Foundation

/// One HTTP response of a redirect chain: status and headers (names lowercased).
public struct ResponseHead: Sendable {
    public var url: String
    public var status: Int
    public var headers: [String: String]
}

/// GET requests through libcurl, following redirects here rather than in curl so that the
/// Authorization header goes only to the Hub's own origin: LFS files redirect to a CDN on
/// another host, which must never see the user's token.
final class Transport: Sendable {
    let settings: HubSettings
    private let hubOrigin: Origin?
    static let maxRedirects = 10
    static let userAgent = "adapter-serve/1.0 (libcurl)"

    private static let initialised: Bool = { chub_global_init() == CURLE_OK }()

    init(settings: HubSettings) {
        self.settings = settings
        hubOrigin = Origin(settings.endpoint)
    }

    /// What a GET produced: every hop's head (the last is the final response), and the start of
    /// a non-2xx body for error messages.
    struct Outcome {
        var hops: [ResponseHead]
        var errorBody: Data
        var final: ResponseHead { hops[hops.count - 1] }
    }

    /// Fetches `url`, following up to 10 redirects. `onStart` sees the final 2xx head before
    /// any of its body; `onBody` then receives the body as it arrives. A thrown error from
    /// either aborts the transfer and is rethrown. Transport failures become `.unreachable`
    /// (nothing received) or `.interrupted` (a body had started).
    func get(_ url: String, range: Int64? = nil,
             onStart: @escaping (ResponseHead) throws(HubError) -> Void = { _ throws(HubError) in },
             onBody: @escaping (UnsafeRawBufferPointer) throws(HubError) -> Void = { _ throws(HubError) in }) throws(HubError) -> Outcome {
        guard Self.initialised else { throw HubError(.io, "libcurl failed to initialise") }
        var hops: [ResponseHead] = []
        var current = url
        while true {
            let context = TransferContext(onStart: onStart, onBody: onBody)
            var headers = ["Accept-Encoding: identity"]
            if let token = settings.token, let origin = Origin(current), origin == hubOrigin {
                headers.append("Authorization: Bearer \(token)")
            }
            let result = perform(current, headers: headers, range: range.map { "\($0)-" }, context: context)
            if let error = context.thrown { throw error }
            let head = ResponseHead(url: current, status: Int(result.status), headers: context.headers)
            if result.code != CURLE_OK {
                let detail = withUnsafeBytes(of: result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                let host = Origin(current)?.description ?? current
                if context.bodyStarted || context.headerComplete {
                    throw HubError(.interrupted, "the connection to \(host) broke off (\(detail))")
                }
                throw HubError(.unreachable, "cannot reach \(host) (\(detail))")
            }
            hops.append(head)
            if [301, 302, 303, 307, 308].contains(head.status), let location = head.headers["location"] {
                guard hops.count <= Self.maxRedirects else {
                    throw HubError(.server, "more than \(Self.maxRedirects) redirects fetching \(url)")
                }
                guard let next = URL(string: location, relativeTo: URL(string: current))?.absoluteURL,
                      let scheme = next.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
                    throw HubError(.server, "the Hub redirected \(current) to an unusable location \(location)")
                }
                current = next.absoluteString
                continue
            }
            return Outcome(hops: hops, errorBody: context.errorBody)
        }
    }

    private func perform(_ url: String, headers: [String], range: String?, context: TransferContext) -> chub_result {
        var result = chub_result()
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        let cHeaders = headers.map { strdup($0) } + [nil]
        defer { cHeaders.forEach { free($0) } }
        url.withCString { cURL in
            Self.userAgent.withCString { agent in
                withOptionalCString(range) { cRange in
                    cHeaders.map { UnsafePointer($0) }.withUnsafeBufferPointer { headerList in
                        var request = chub_request(url: cURL, headers: headerList.baseAddress, range: cRange,
                                                   connect_timeout_seconds: settings.connectTimeoutSeconds,
                                                   stall_timeout_seconds: settings.stallTimeoutSeconds,
                                                   user_agent: agent, on_header: transferHeader, on_body: transferBody,
                                                   ctx: unmanaged.toOpaque())
                        chub_perform(&request, &result)
                    }
                }
            }
        }
        return result
    }
}

private func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

/// Scheme, host and port: the unit the token is scoped to.
struct Origin: Equatable, CustomStringConvertible {
    let scheme: String
    let host: String
    let port: Int

    init?(_ url: String) {
        guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), let host = u.host?.lowercased() else { return nil }
        self.scheme = scheme
        self.host = host
        port = u.port ?? (scheme == "https" ? 443 : 80)
    }

    var description: String {
        let defaultPort = scheme == "https" ? 443 : 80
        return port == defaultPort ? "\(scheme)://\(host)" : "\(scheme)://\(host):\(port)"
    }
}

/// State one curl transfer shares with its C callbacks (passed as an Unmanaged pointer).
/// Only touched from the thread running chub_perform.
private final class TransferContext {
    let onStart: (ResponseHead) throws(HubError) -> Void
    let onBody: (UnsafeRawBufferPointer) throws(HubError) -> Void
    var status = 0
    var headers: [String: String] = [:]
    var headerComplete = false
    var bodyStarted = false
    var errorBody = Data()
    var thrown: HubError?

    init(onStart: @escaping (ResponseHead) throws(HubError) -> Void,
         onBody: @escaping (UnsafeRawBufferPointer) throws(HubError) -> Void) {
        self.onStart = onStart
        self.onBody = onBody
    }

    var isSuccess: Bool { (200..<300).contains(status) }

    /// One header line; a status line starts a new response (after a 100 Continue).
    func header(_ line: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("HTTP/") {
            let parts = trimmed.split(separator: " ")
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = [:]
            headerComplete = false
        } else if trimmed.isEmpty {
            guard status >= 200 else { return true }  // an interim 1xx block ended
            headerComplete = true
            if isSuccess {
                do { try onStart(ResponseHead(url: "", status: status, headers: headers)) } catch {
                    thrown = error
                    return false
                }
            }
        } else if let colon = trimmed.firstIndex(of: ":") {
            let name = trimmed[..<colon].lowercased()
            headers[name] = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return true
    }

    func body(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bodyStarted = true
        guard isSuccess else {
            if errorBody.count < 65536 { errorBody.append(contentsOf: bytes.prefix(65536 - errorBody.count)) }
            return true
        }
        do { try onBody(bytes) } catch {
            thrown = error
            return false
        }
        return true
    }
}

private func transferHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ ctx: UnsafeMutableRawPointer?) -> Int {
    guard let data, let ctx else { return 0 }
    let context = Unmanaged<TransferContext>.fromOpaque(ctx).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
    return context.header(line) ? size * count : 0
}

private func transferBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ ctx: UnsafeMutableRawPointer?) -> Int {
    guard let data, let ctx else { return 0 }
    let context = Unmanaged<TransferContext>.fromOpaque(ctx).takeUnretainedValue()
    return context.body(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
}

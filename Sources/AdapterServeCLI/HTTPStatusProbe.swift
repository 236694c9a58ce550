import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 GET that reads only the status line, over a plain socket. It exists so
/// the healthcheck needs no HTTP client library: Foundation's URLSession would pull libcurl
/// (and its TLS stack) into the runtime image.
struct HTTPStatusProbe {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let host: String
    let port: String
    let path: String

    /// Accepts `http://host[:port][/path]`, with `[v6]` literals; no https, no credentials.
    init(url: String) throws(Failure) {
        guard url.hasPrefix("http://") else { throw Failure(description: "only http:// URLs are supported, got '\(url)'") }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
        var hostPart = Substring(authority), portPart: Substring = "80"
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw Failure(description: "unclosed '[' in '\(url)'") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() } else if !after.isEmpty {
                throw Failure(description: "unexpected '\(after)' after the address in '\(url)'")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty, !authority.contains("@") else { throw Failure(description: "no host in '\(url)'") }
        guard let p = Int(portPart), (1...65535).contains(p) else { throw Failure(description: "bad port '\(portPart)' in '\(url)'") }
        guard !path.contains(where: { $0 == " " || $0.isNewline }) else { throw Failure(description: "spaces in the path of '\(url)'") }
        host = String(hostPart)
        port = String(p)
    }

    /// Connects (trying every resolved address), sends the GET and returns the status code,
    /// all within `timeout` seconds.
    func status(timeout: Double) throws(Failure) -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, port, &hints, &list)
        guard rc == 0, let first = list else { throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(list) }
        var lastError = "no address for \(host)"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let ai = entry {
            entry = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            guard fd >= 0 else { lastError = Self.errnoText("socket"); continue }
            defer { close(fd) }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 {
                guard errno == EINPROGRESS else { lastError = Self.errnoText("connect to \(host):\(port)"); continue }
                guard Self.wait(fd, for: Int16(POLLOUT), until: deadline) else { throw Failure(description: "timed out connecting to \(host):\(port)") }
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                guard soError == 0 else { lastError = "connect to \(host):\(port): \(String(cString: strerror(soError)))"; continue }
            }
            return try exchange(fd, until: deadline)
        }
        throw Failure(description: lastError)
    }

    private func exchange(_ fd: Int32, until deadline: Date) throws(Failure) -> Int {
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var request = Array("GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: adapter-serve-healthcheck\r\nConnection: close\r\n\r\n".utf8)
        while !request.isEmpty {
            guard Self.wait(fd, for: Int16(POLLOUT), until: deadline) else { throw Failure(description: "timed out sending the request") }
            let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw Failure(description: Self.errnoText("send"))
            }
            request.removeFirst(sent)
        }
        // Only the status line is needed: "HTTP/1.1 200 OK\r\n".
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while !received.contains(UInt8(ascii: "\n")) && received.count < 8192 {
            guard Self.wait(fd, for: Int16(POLLIN), until: deadline) else { throw Failure(description: "timed out waiting for the answer") }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw Failure(description: Self.errnoText("recv"))
            }
            if n == 0 { break }
            received += chunk[0..<n]
        }
        let line = String(decoding: received.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let fields = line.split(separator: " ")
        guard fields.count >= 2, fields[0].hasPrefix("HTTP/1."), let code = Int(fields[1]), (100...599).contains(code) else {
            throw Failure(description: "not an HTTP answer: '\(line.prefix(80))'")
        }
        return code
    }

    /// Polls one event with the time left before `deadline`; false when it ran out.
    private static func wait(_ fd: Int32, for events: Int16, until deadline: Date) -> Bool {
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return false }
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&pfd, 1, Int32(min(left * 1000, 1_000_000).rounded(.up)))
            if rc > 0 { return true }
            if rc < 0 && errno != EINTR { return true }  // let the next call report the error
        }
    }

    private static func errnoText(_ what: String) -> String { "\(what): \(String(cString: strerror(errno)))" }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct SocketError: Error, CustomStringConvertible {
    var operation: String
    var code: Int32

    public var description: String { "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))" }
}

/// A bare TCP client for requests curl will not send (malformed lines, oversized headers,
/// stalled uploads) and for observing exactly when the server closes the connection.
public final class RawConnection {
    public let fd: Int32

    /// Connects to 127.0.0.1:`port` (or ::1 with `ipv6`); throws with errno on refusal.
    /// `source` binds the client end to another loopback address (e.g. "127.0.0.2"), so tests
    /// can stand in for many clients when the server limits connections per address.
    public init(port: Int, ipv6: Bool = false, source: String? = nil) throws {
        let family = ipv6 ? AF_INET6 : AF_INET
        fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(operation: "socket", code: errno) }
        if let source, !ipv6 {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_port = 0
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                let code = errno
                close(fd)
                throw SocketError(operation: "bind \(source)", code: code)
            }
        }
        var rc: Int32
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port)).bigEndian
            address.sin6_addr = in6addr_loopback
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port)).bigEndian
            address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw SocketError(operation: "connect", code: code)
        }
    }

    deinit {
        close(fd)
    }

    /// Sends everything; MSG_NOSIGNAL because the server may already have closed on us.
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw SocketError(operation: "send", code: errno) }
            offset += sent
        }
    }

    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// Ends our sending side (FIN) while still reading the server's answer.
    public func finishSending() {
        shutdown(fd, Int32(SHUT_WR))
    }

    public enum Ending: Equatable, Sendable {
        /// The server closed (FIN or reset).
        case closed
        /// Our bounded wait ran out with the connection still open.
        case timedOut
    }

    /// Reads until the server closes the connection or `timeout` passes without data.
    public func readUntilClosed(timeout: Int = 45) -> (bytes: [UInt8], ending: Ending) {
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received.append(contentsOf: buffer[0..<count])
            } else if count == 0 {
                return (received, .closed)
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return (received, .timedOut)
            } else {
                return (received, .closed)  // ECONNRESET and friends
            }
        }
    }
}

public struct RawResponse {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Parses the first response in `bytes` (status line, headers, Content-Length body).
public func parseFirstResponse(_ bytes: [UInt8]) -> RawResponse? {
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    guard let headerEnd = bytes.firstRange(of: separator) else { return nil }
    let head = String(decoding: bytes[..<headerEnd.lowerBound], as: UTF8.self)
    var lines = head.components(separatedBy: "\r\n")
    let statusLine = lines.removeFirst().split(separator: " ")
    guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
    var headers: [String: String] = [:]
    for line in lines {
        if let colon = line.firstIndex(of: ":") {
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }
    let rest = Array(bytes[headerEnd.upperBound...])
    let length = headers["content-length"].flatMap(Int.init) ?? rest.count
    return RawResponse(status: status, headers: headers, body: Array(rest.prefix(length)))
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct SocketError: Error, CustomStringConvertible {
    var operation: String
    var code: Int32

    var description: String { "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))" }
}

/// A bare TCP client for requests curl will not send (malformed lines, oversized headers,
/// stalled uploads) and for observing exactly when the server closes the connection.
final class RawConnection {
    let fd: Int32

    /// Connects to 127.0.0.1:`port` (or ::1 with `ipv6`); throws with errno on refusal.
    init(port: Int, ipv6: Bool = false) throws {
        let family = ipv6 ? AF_INET6 : AF_INET
        fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(operation: "socket", code: errno) }
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
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw SocketError(operation: "send", code: errno) }
            offset += sent
        }
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    enum Ending: Equatable {
        /// The server closed (FIN or reset).
        case closed
        /// Our bounded wait ran out with the connection still open.
        case timedOut
    }

    /// Reads until the server closes the connection or `timeout` passes without data.
    func readUntilClosed(timeout: Int = 45) -> (bytes: [UInt8], ending: Ending) {
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

struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Parses the first response in `bytes` (status line, headers, Content-Length body).
func parseFirstResponse(_ bytes: [UInt8]) -> RawResponse? {
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

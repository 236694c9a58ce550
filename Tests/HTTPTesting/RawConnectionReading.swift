import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension RawConnection {
    /// Reads until `marker` has arrived (or the connection closes); returns all bytes so far.
    public func read(until marker: String, after start: [UInt8] = []) -> [UInt8] {
        var received = start
        var buffer = [UInt8](repeating: 0, count: 4096)
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        return received
    }
}

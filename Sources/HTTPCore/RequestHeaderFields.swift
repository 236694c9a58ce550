import CMicroHTTPD
import Foundation

/// The request's header fields in arrival order, with any bytes libmicrohttpd hid behind a NUL.
///
/// libmicrohttpd 0.9.75 hands header values over as C strings and reports their `strlen` as
/// the size, so `Authorization: Bearer KEY\0junk` arrives as `Bearer KEY`: the rest of the
/// line silently vanishes, and a check on the value cannot see that the field was malformed.
/// It parses in place, though: the request stays in the connection's read buffer, starting
/// with the method, each field as `name\0<spaces>value`, every CR and LF overwritten with
/// NULs, and the header block ends `header size` bytes after the method. So between a value's
/// end and the next field's name (or, for the last field, the end of the block) there are only
/// NULs, unless the value held a NUL: then the hidden rest of the line is there, and we append
/// it, NUL included, for the caller to refuse. Fields not laid out that way (a folded value
/// libmicrohttpd copied elsewhere) are passed on as they are. A NUL just before the line end
/// hides nothing and cannot be told from the line end.
func requestHeaderFields(_ connection: OpaquePointer, method: UnsafePointer<CChar>?, url: UnsafePointer<CChar>?) -> [HTTPHeaders.Field] {
    let collector = RawFieldCollector()
    withExtendedLifetime(collector) {
        _ = MHD_get_connection_values_n(connection, .HEADER_KIND, collectRawField, Unmanaged.passUnretained(collector).toOpaque())
    }
    let raw = collector.fields
    // The end of the header block, when the method still sits at the start of the buffer.
    var blockEnd: UnsafePointer<CChar>?
    if let method, let url, url == method + strlen(method) + 1 {
        let size = adapter_serve_request_header_size(connection)
        if size > 0 { blockEnd = method + size }
    }
    return raw.indices.map { i in
        let f = raw[i]
        let name = String(decoding: UnsafeRawBufferPointer(start: f.key, count: f.keySize), as: UTF8.self)
        guard let start = f.value else { return HTTPHeaders.Field(name: name, value: "") }
        var value = Array(UnsafeRawBufferPointer(start: start, count: f.valueSize))
        if isInPlace(f.key, f.keySize, start) {
            let end = start + f.valueSize  // a NUL: the line end, or one the client sent
            let next = i + 1 < raw.count ? raw[i + 1].key : blockEnd
            // Where the next line starts; unknown layouts check only the byte after the NUL.
            let limit = next.flatMap { $0 > end && $0 - end <= maxLineGap ? $0 : nil } ?? end + 2
            var lastHidden: UnsafePointer<CChar>?
            var p = end + 1
            while p < limit {
                if p.pointee != 0 { lastHidden = p }
                p += 1
            }
            if let lastHidden {
                value += Array(UnsafeRawBufferPointer(start: end, count: lastHidden - end + 1))
            }
        }
        return HTTPHeaders.Field(name: name, value: String(decoding: value, as: UTF8.self))
    }
}

/// A header line cannot exceed libmicrohttpd's connection memory; this only bounds the scan.
private let maxLineGap = 1 << 16

private struct RawField {
    var key: UnsafePointer<CChar>
    var keySize: Int
    var value: UnsafePointer<CChar>?
    var valueSize: Int
}

private final class RawFieldCollector {
    var fields: [RawField] = []
}

/// `name\0` then only spaces or tabs up to the value: the line is still where it was parsed.
private func isInPlace(_ key: UnsafePointer<CChar>, _ keySize: Int, _ value: UnsafePointer<CChar>) -> Bool {
    let colon = key + keySize
    guard value > colon, value - colon <= 256, colon.pointee == 0 else { return false }
    var p = colon + 1
    while p < value {
        guard p.pointee == 0x20 || p.pointee == 0x09 else { return false }
        p += 1
    }
    return true
}

private func collectRawField(
    _ cls: UnsafeMutableRawPointer?,
    _ kind: MHD_ValueKind,
    _ key: UnsafePointer<CChar>?,
    _ keySize: Int,
    _ value: UnsafePointer<CChar>?,
    _ valueSize: Int
) -> MHD_Result {
    guard let cls, let key else { return .YES }
    Unmanaged<RawFieldCollector>.fromOpaque(cls).takeUnretainedValue().fields
        .append(RawField(key: key, keySize: keySize, value: value, valueSize: valueSize))
    return .YES
}

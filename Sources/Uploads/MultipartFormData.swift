import Foundation
import HTTPCore

/// One field or file of a multipart/form-data body.
public struct MultipartPart: Sendable, Equatable {
    /// The form field name (Content-Disposition `name`).
    public var name: String
    /// The client's file name, as sent (it may contain a path; never use it as one).
    public var filename: String?
    public var headers: HTTPHeaders
    public var data: Data

    public init(name: String, filename: String?, headers: HTTPHeaders, data: Data) {
        self.name = name
        self.filename = filename
        self.headers = headers
        self.data = data
    }

    public var contentType: String? { headers["Content-Type"] }
}

/// Parser for RFC 7578 multipart/form-data bodies. Accepts CRLF (standard) and bare LF line
/// ends, a preamble and an epilogue; rejects anything ambiguous with `.invalidMultipart`.
public enum MultipartFormData {
    /// The boundary parameter of a multipart Content-Type (quoted or not).
    public static func boundary(fromContentType contentType: String) throws(UploadError) -> String {
        guard let (mediaType, parameters) = parseHeaderParameters(contentType) else {
            throw UploadError(.invalidMultipart, "Content-Type has an unterminated quoted string")
        }
        guard mediaType.lowercased().hasPrefix("multipart/") else {
            throw UploadError(.invalidMultipart, "Content-Type is '\(mediaType)', expected multipart/form-data")
        }
        guard let boundary = parameters.first(where: { $0.name == "boundary" })?.value, !boundary.isEmpty else {
            throw UploadError(.invalidMultipart, "Content-Type has no boundary parameter")
        }
        guard boundary.utf8.count <= 200, !boundary.contains(where: { $0 == "\r" || $0 == "\n" }) else {
            throw UploadError(.invalidMultipart, "boundary is longer than 200 bytes or contains a line break")
        }
        return boundary
    }

    public static func parse(body: Data, contentType: String) throws(UploadError) -> [MultipartPart] {
        let boundary = try boundary(fromContentType: contentType)
        return try body.withUnsafeBytes { buffer in
            Result { () throws(UploadError) -> [MultipartPart] in
                try MultipartParser(body: buffer, delimiter: Array(("--" + boundary).utf8)).parts()
            }
        }.get()
    }
}

private struct MultipartParser {
    let body: UnsafeRawBufferPointer
    let delimiter: [UInt8]

    private struct Delimiter {
        /// Where the preceding part's content ends (before the line break that starts the delimiter).
        var contentEnd: Int
        /// Just past the delimiter line.
        var next: Int
        var isClose: Bool
    }

    func parts() throws(UploadError) -> [MultipartPart] {
        guard var current = findDelimiter(from: 0) else {
            throw UploadError(.invalidMultipart, "body does not contain the boundary from Content-Type")
        }
        var parts: [MultipartPart] = []
        while !current.isClose {
            guard let following = findDelimiter(from: current.next) else {
                throw UploadError(.invalidMultipart, "body has no closing boundary (truncated?)")
            }
            parts.append(try part(from: current.next, to: following.contentEnd))
            current = following
        }
        return parts
    }

    /// The next real delimiter at or after `start`: "--boundary" at the start of the body or
    /// of a line, followed by "--" (close) or optional spaces and a line break. Other
    /// occurrences are content that merely contains the text.
    private func findDelimiter(from start: Int) -> Delimiter? {
        var searchFrom = start
        while let position = find(delimiter, from: searchFrom) {
            searchFrom = position + 1
            let atLineStart = position == 0 || body[position - 1] == UInt8(ascii: "\n")
            guard atLineStart else { continue }
            var contentEnd = position
            if position > 0 {
                contentEnd -= 1
                if contentEnd > 0 && body[contentEnd - 1] == UInt8(ascii: "\r") {
                    contentEnd -= 1
                }
            }
            var cursor = position + delimiter.count
            if cursor + 1 < body.count && body[cursor] == UInt8(ascii: "-") && body[cursor + 1] == UInt8(ascii: "-") {
                return Delimiter(contentEnd: contentEnd, next: body.count, isClose: true)
            }
            while cursor < body.count && (body[cursor] == UInt8(ascii: " ") || body[cursor] == UInt8(ascii: "\t")) {
                cursor += 1
            }
            if cursor < body.count && body[cursor] == UInt8(ascii: "\n") {
                return Delimiter(contentEnd: contentEnd, next: cursor + 1, isClose: false)
            }
            if cursor + 1 < body.count && body[cursor] == UInt8(ascii: "\r") && body[cursor + 1] == UInt8(ascii: "\n") {
                return Delimiter(contentEnd: contentEnd, next: cursor + 2, isClose: false)
            }
        }
        return nil
    }

    private func part(from start: Int, to end: Int) throws(UploadError) -> MultipartPart {
        guard start <= end else {
            throw UploadError(.invalidMultipart, "a part is missing its header section")
        }
        var headers = HTTPHeaders()
        var lineStart = start
        var contentStart: Int?
        while lineStart < end {
            guard let newline = find([UInt8(ascii: "\n")], from: lineStart), newline < end else { break }
            var lineEnd = newline
            if lineEnd > lineStart && body[lineEnd - 1] == UInt8(ascii: "\r") {
                lineEnd -= 1
            }
            let line = String(decoding: body[lineStart..<lineEnd], as: UTF8.self)
            lineStart = newline + 1
            if line.isEmpty {
                contentStart = lineStart
                break
            }
            if let first = line.first, first == " " || first == "\t", let last = headers.fields.last {
                // Obsolete line folding continues the previous header.
                headers.set(last.name, last.value + " " + line.trimmingSpaces())
                continue
            }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw UploadError(.invalidMultipart, "malformed part header line '\(line.prefix(80))'")
            }
            headers.add(String(line[..<colon]).trimmingSpaces(), String(line[line.index(after: colon)...]).trimmingSpaces())
        }
        guard let contentStart else {
            throw UploadError(.invalidMultipart, "part headers are not followed by a blank line")
        }
        guard let disposition = headers["Content-Disposition"] else {
            throw UploadError(.invalidMultipart, "a part has no Content-Disposition header")
        }
        guard let (_, parameters) = parseHeaderParameters(disposition) else {
            throw UploadError(.invalidMultipart, "Content-Disposition has an unterminated quoted string")
        }
        guard let name = parameters.first(where: { $0.name == "name" })?.value else {
            throw UploadError(.invalidMultipart, "a part's Content-Disposition has no name")
        }
        let extended = parameters.first(where: { $0.name == "filename*" }).flatMap { decodeExtendedValue($0.value) }
        let filename = extended ?? parameters.first(where: { $0.name == "filename" })?.value
        return MultipartPart(name: name, filename: filename, headers: headers,
                             data: Data(body[contentStart..<max(contentStart, end)]))
    }

    /// RFC 8187 `charset'language'percent-encoded` (UTF-8 only); nil if not decodable.
    private func decodeExtendedValue(_ value: String) -> String? {
        let pieces = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[0].lowercased() == "utf-8" else { return nil }
        return percentDecode(pieces[2], plusAsSpace: false)
    }

    /// memchr for the first byte, then memcmp: uploads are megabytes of weights, so a
    /// byte-by-byte Swift loop would dominate parsing. (glibc hides memmem behind _GNU_SOURCE.)
    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, start < body.count, let base = body.baseAddress else { return nil }
        var position = start
        while body.count - position >= needle.count {
            guard let hit = memchr(base + position, Int32(first), body.count - position - needle.count + 1) else {
                return nil
            }
            let index = UnsafeRawPointer(hit) - base
            let matches = needle.withUnsafeBytes { memcmp(base + index, $0.baseAddress!, needle.count) == 0 }
            if matches {
                return index
            }
            position = index + 1
        }
        return nil
    }
}

/// An RFC 8259 syntax check run before Foundation parses a request body.
///
/// Foundation's parser is lenient: it accepts trailing commas (`{"a": 1,}`), which Python's
/// `json`, JavaScript's `JSON.parse` and every OpenAI SDK reject. A client whose body we accept
/// here but another server refuses has a bug it cannot see, so the API refuses what the RFC
/// refuses and says where: "trailing comma at byte 12". The check also bounds nesting, so a body
/// of 100,000 `[` cannot exhaust the stack of whatever parses it next.
enum StrictJSON {
    /// Deeper than any request we define (ours nest three levels); deep enough for any client.
    static let maxDepth = 64

    /// What is wrong with `bytes` as one JSON text, or nil if nothing is.
    static func problem(in bytes: UnsafeRawBufferPointer) -> String? {
        var scanner = Scanner(bytes: bytes)
        do throws(Failure) {
            scanner.skipWhitespace()
            try scanner.value(depth: 0)
            scanner.skipWhitespace()
            if scanner.position < bytes.count { throw Failure("unexpected data after the JSON value", scanner.position) }
            return nil
        } catch {
            return "\(error.message) at byte \(error.offset)"
        }
    }

    struct Failure: Error {
        let message: String
        let offset: Int
        init(_ message: String, _ offset: Int) { self.message = message; self.offset = offset }
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { position += 1 }
        }

        mutating func value(depth: Int) throws(Failure) {
            guard let c = current else { throw Failure("unexpected end of the body", position) }
            switch c {
            case UInt8(ascii: "{"): try container(close: UInt8(ascii: "}"), depth: depth, keyed: true)
            case UInt8(ascii: "["): try container(close: UInt8(ascii: "]"), depth: depth, keyed: false)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw Failure("unexpected character '\(Self.describe(c))'", position)
            }
        }

        mutating func container(close: UInt8, depth: Int, keyed: Bool) throws(Failure) {
            guard depth < StrictJSON.maxDepth else { throw Failure("nesting deeper than \(StrictJSON.maxDepth) levels", position) }
            position += 1
            skipWhitespace()
            if current == close { position += 1; return }
            while true {
                if keyed {
                    guard current == UInt8(ascii: "\"") else {
                        throw Failure(current == close ? "trailing comma" : "expected a quoted member name", position)
                    }
                    try string()
                    skipWhitespace()
                    guard current == UInt8(ascii: ":") else { throw Failure("expected ':' after a member name", position) }
                    position += 1
                    skipWhitespace()
                } else if current == close {
                    throw Failure("trailing comma", position)
                }
                try value(depth: depth + 1)
                skipWhitespace()
                guard let c = current else { throw Failure("unexpected end of the body", position) }
                if c == close { position += 1; return }
                guard c == UInt8(ascii: ",") else {
                    throw Failure("expected ',' or '\(Self.describe(close))'", position)
                }
                position += 1
                skipWhitespace()
            }
        }

        mutating func string() throws(Failure) {
            let start = position
            position += 1
            while let c = current {
                switch c {
                case UInt8(ascii: "\""):
                    position += 1
                    return
                case UInt8(ascii: "\\"):
                    position += 1
                    guard let e = current else { break }
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                         UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        position += 1
                    case UInt8(ascii: "u"):
                        position += 1
                        for _ in 0..<4 {
                            guard let h = current, Self.isHex(h) else { throw Failure("\\u must be followed by four hex digits", position) }
                            position += 1
                        }
                    default:
                        throw Failure("invalid escape '\\\(Self.describe(e))' in a string", position - 1)
                    }
                case 0x00...0x1F:
                    throw Failure("unescaped control character in a string", position)
                default:
                    position += 1
                }
            }
            throw Failure("unterminated string", start)
        }

        mutating func literal(_ word: StaticString) throws(Failure) {
            let start = position
            let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            for b in expected {
                guard current == b else { throw Failure("invalid literal (expected \(word))", start) }
                position += 1
            }
        }

        mutating func number() throws(Failure) {
            let start = position
            if current == UInt8(ascii: "-") { position += 1 }
            guard let first = current, Self.isDigit(first) else { throw Failure("invalid number", start) }
            position += 1
            if first == UInt8(ascii: "0"), let next = current, Self.isDigit(next) {
                throw Failure("invalid number (leading zero)", start)
            }
            while let c = current, Self.isDigit(c) { position += 1 }
            if current == UInt8(ascii: ".") {
                position += 1
                guard let c = current, Self.isDigit(c) else { throw Failure("invalid number (digits must follow '.')", start) }
                while let c = current, Self.isDigit(c) { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard let c = current, Self.isDigit(c) else { throw Failure("invalid number (digits must follow the exponent)", start) }
                while let c = current, Self.isDigit(c) { position += 1 }
            }
        }

        static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) }
        static func describe(_ c: UInt8) -> String {
            c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16, uppercase: true)
        }
    }
}

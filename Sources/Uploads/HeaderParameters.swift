/// Splits a header value such as `multipart/form-data; boundary="a b"` or
/// `form-data; name="file"; filename="x.json"` into its leading token and parameters.
/// Parameter names are lowercased; quoted values are unquoted (with backslash escapes).
/// Returns nil for an unterminated quoted string.
func parseHeaderParameters(_ value: String) -> (value: String, parameters: [(name: String, value: String)])? {
    var scalars = Substring(value).unicodeScalars[...]
    func skipSpaces() {
        while let first = scalars.first, first == " " || first == "\t" {
            scalars.removeFirst()
        }
    }
    func readToken(stoppingAt stops: Set<Unicode.Scalar>) -> String {
        var token = String.UnicodeScalarView()
        while let first = scalars.first, !stops.contains(first) {
            token.append(first)
            scalars.removeFirst()
        }
        return String(token).trimmingSpaces()
    }

    let leading = readToken(stoppingAt: [";"])
    var parameters: [(name: String, value: String)] = []
    while scalars.first == ";" {
        scalars.removeFirst()
        skipSpaces()
        let name = readToken(stoppingAt: ["=", ";"]).lowercased()
        var parameterValue = ""
        if scalars.first == "=" {
            scalars.removeFirst()
            skipSpaces()
            if scalars.first == "\"" {
                scalars.removeFirst()
                var quoted = String.UnicodeScalarView()
                var closed = false
                while let scalar = scalars.popFirst() {
                    if scalar == "\\", let escaped = scalars.popFirst() {
                        quoted.append(escaped)
                    } else if scalar == "\"" {
                        closed = true
                        break
                    } else {
                        quoted.append(scalar)
                    }
                }
                guard closed else { return nil }
                parameterValue = String(quoted)
                _ = readToken(stoppingAt: [";"])  // ignore junk between the closing quote and ";"
            } else {
                parameterValue = readToken(stoppingAt: [";"])
            }
        }
        if !name.isEmpty {
            parameters.append((name, parameterValue))
        }
    }
    return (leading, parameters)
}

extension String {
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[start...end])
    }
}

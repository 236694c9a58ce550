/// How a JSON number literal becomes a piece score.
///
/// The Viterbi search compares sums of scores, so a one-ulp difference can flip a near tie.
/// transformers builds T5's Unigram model from scores Python's `json` parsed (correctly
/// rounded); `tokenizers.Tokenizer.from_file` parses them with serde_json's default reader,
/// which rounds twice and lands one ulp off for 8,334 of FLAN-T5's 32,100 scores. Each pipeline
/// uses the reader of the library it reproduces.
enum ScoreParsing: Sendable {
    case correctlyRounded
    case serdeJSON

    func parse(_ literal: String) -> Double? {
        switch self {
        case .correctlyRounded: return Double(literal)
        case .serdeJSON: return Self.serdeDouble(literal)
        }
    }

    /// serde_json without `float_roundtrip`: decimal digits accumulate into a UInt64 (digits
    /// past its capacity are dropped, integer ones counted into the exponent), the result is
    /// converted to Double (first rounding) and scaled by one power of ten (second rounding).
    static func serdeDouble(_ literal: String) -> Double? {
        var bytes = Array(literal.utf8)[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes = bytes.dropFirst() }
        var significand: UInt64 = 0
        var exponent = 0
        var overflowed = false
        var sawDigit = false

        func push(_ digit: UInt64, fractional: Bool) {
            if overflowed || significand > UInt64.max / 10
                || (significand == UInt64.max / 10 && digit > UInt64.max % 10) {
                overflowed = true
                if !fractional { exponent += 1 }
                return
            }
            significand = significand * 10 + digit
            if fractional { exponent -= 1 }
        }

        var index = bytes.startIndex
        while index < bytes.endIndex, let d = digit(bytes[index]) {
            push(d, fractional: false); sawDigit = true; index += 1
        }
        guard sawDigit else { return nil }
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var fractionDigits = 0
            while index < bytes.endIndex, let d = digit(bytes[index]) {
                push(d, fractional: true); fractionDigits += 1; index += 1
            }
            guard fractionDigits > 0 else { return nil }
        }
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var negativeExponent = false
            if index < bytes.endIndex, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                negativeExponent = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var explicit = 0
            var exponentDigits = 0
            while index < bytes.endIndex, let d = digit(bytes[index]) {
                explicit = min(explicit * 10 + Int(d), 1_000_000)
                exponentDigits += 1; index += 1
            }
            guard exponentDigits > 0 else { return nil }
            exponent += negativeExponent ? -explicit : explicit
        }
        guard index == bytes.endIndex else { return nil }

        var value = Double(significand)
        while true {
            let magnitude = exponent.magnitude
            if magnitude <= 308 {
                let power = powerOfTen(Int(magnitude))
                if exponent >= 0 {
                    value *= power
                    if value.isInfinite { return nil }
                } else {
                    value /= power
                }
                break
            }
            if value == 0 { break }
            if exponent >= 0 { return nil }
            value /= 1e308
            exponent += 308
        }
        return negative ? -value : value
    }

    private static func digit(_ byte: UInt8) -> UInt64? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? UInt64(byte - UInt8(ascii: "0")) : nil
    }

    /// serde_json's table holds the correctly rounded literals 1e0...1e308; parsing the literal
    /// gives exactly those values.
    private static let powersOfTen: [Double] = (0...308).map { Double("1e\($0)")! }

    private static func powerOfTen(_ n: Int) -> Double { powersOfTen[n] }
}

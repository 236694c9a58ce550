import Testing
@testable import Tokenization

/// The tokenizer.json reader: strict, and exact about strings (pieces contain every kind of
/// character) and number literals (kept as written).
struct JSONValueTests {
    @Test func parsesStringsWithEscapes() throws {
        let value = try JSONValue.parse(Array(#"["\u2581a", "\ud83d\ude00", "tab\tq\"\\\/", "é", "\u0000"]"#.utf8))
        let strings = try #require(value.array).map(\.string)
        #expect(strings == ["\u{2581}a", "\u{1F600}", "tab\tq\"\\/", "é", "\u{0}"])
    }

    @Test func keepsNumberLiterals() throws {
        let value = try JSONValue.parse(Array(#"{"a": -2.0122928619384766, "b": 1e-5, "c": 32099}"#.utf8))
        #expect(value["a"]?.numberLiteral == "-2.0122928619384766")
        #expect(value["b"]?.numberLiteral == "1e-5")
        #expect(value["c"]?.int == 32099)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\ud800\"", "\"\\x\"", "\"a\nb\"", "[1] 2", "tru", "{\"a\":1,}",
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
    ])
    func rejectsInvalidDocuments(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }
}

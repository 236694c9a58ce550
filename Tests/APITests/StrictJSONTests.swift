import Foundation
import Testing
@testable import API

/// The request-body syntax check agrees with Python's `json.loads` (constants such as NaN
/// refused, as RFC 8259 does): the expectations below are what `json.loads` answered for each
/// text when this file was written.
@Suite struct StrictJSONTests {
    static let cases: [(String, Bool)] = [
        ("{}", true),
        ("[]", true),
        ("{\"a\":1}", true),
        ("{\"a\":1,}", false),
        ("[1,]", false),
        ("[,1]", false),
        ("{,}", false),
        ("{\"a\" 1}", false),
        ("{\"a\":1 \"b\":2}", false),
        ("01", false),
        ("-0", true),
        ("-", false),
        ("1.", false),
        ("1.5e", false),
        ("1.5e+3", true),
        ("1e5", true),
        ("\"\\x\"", false),
        ("\"\\u12G4\"", false),
        ("\"\\u12aF\"", true),
        ("\"a\tb\"", false),
        ("\"a\\tb\"", true),
        ("true", true),
        ("tru", false),
        ("nul", false),
        ("null ", true),
        ("  {\"a\":[true,false,null]}  ", true),
        ("{\"a\":1}x", false),
        ("NaN", false),
        ("Infinity", false),
        ("[-]", false),
        ("{\"a\":{\"b\":[1,2,{\"c\":\"d\"}]}}", true),
        ("\"\\/\"", true),
        ("'a'", false),
        ("[1,2,]", false),
        ("{\"a\":1,,\"b\":2}", false),
        ("", false),
        ("   ", false),
        ("{\"\\ud83d\\ude00\":1}", true),
        ("[0.0e-0]", true),
        ("[1E+2]", true),
        ("[+1]", false),
        ("[.5]", false),
        ("{\"a\":1} ", true),
        ("[1, 2 , 3 ]", true),
        ("{\"a\":/*c*/1}", false),
        ("[1]//x", false),
    ]

    @Test func agreesWithPythonJSON() {
        for (text, valid) in Self.cases {
            let problem = Data(text.utf8).withUnsafeBytes { StrictJSON.problem(in: $0) }
            #expect((problem == nil) == valid, "\(text.debugDescription): \(problem ?? "accepted")")
        }
    }

    @Test func namesTheProblemAndWhere() {
        func problem(_ text: String) -> String? { Data(text.utf8).withUnsafeBytes { StrictJSON.problem(in: $0) } }
        #expect(problem("{\"a\": 1,}") == "trailing comma at byte 8")
        #expect(problem("[1, 2,]") == "trailing comma at byte 6")
        #expect(problem("{\"a\": 01}") == "invalid number (leading zero) at byte 6")
        #expect(problem("{\"a\": \"x\ty\"}") == "unescaped control character in a string at byte 8")
        #expect(problem(String(repeating: "[", count: 65) + String(repeating: "]", count: 65)) == "nesting deeper than 64 levels at byte 64")
        #expect(problem(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) == nil)
    }
}

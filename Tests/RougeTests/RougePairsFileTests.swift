import Foundation
import Testing
import Rouge

/// The `rouge --pairs` input format and the messages a bad file gets.
struct RougePairsFileTests {
    func parse(_ text: String) throws(RougePairsFile.ParseError) -> [RougePair] {
        try RougePairsFile.parse(Data(text.utf8))
    }

    func error(_ text: String) -> RougePairsFile.ParseError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func pairsKeepInputOrderAndSkipBlankLines() throws {
        let pairs = try parse("""
            {"prediction": "p1", "reference": "r1"}

            \t
            {"reference": "r2", "prediction": "p2", "id": 7}
            {"prediction": "caf\\u00e9\\n2nd line", "reference": ""}

            """)
        #expect(pairs == [RougePair(prediction: "p1", reference: "r1"),
                          RougePair(prediction: "p2", reference: "r2"),
                          RougePair(prediction: "café\n2nd line", reference: "")])
    }

    @Test func crlfLineEndingsAndByteOrderMarkAreAccepted() throws {
        let text = "\u{FEFF}{\"prediction\":\"a\",\"reference\":\"b\"}\r\n\r\n{\"prediction\":\"c\",\"reference\":\"d\"}\r\n"
        #expect(try parse(text) == [RougePair(prediction: "a", reference: "b"), RougePair(prediction: "c", reference: "d")])
    }

    @Test func emptyFileHasNoPairs() throws {
        #expect(try parse("").isEmpty)
        #expect(try parse("\n\n").isEmpty)
    }

    /// Line numbers count blank lines, so they match what an editor shows.
    @Test func badJSONNamesItsLine() {
        let e = error("{\"prediction\":\"a\",\"reference\":\"b\"}\n\n{\"prediction\": \"a\", \"reference\": }\n")
        #expect(e == RougePairsFile.ParseError(line: 3, message: "not valid JSON"))
        #expect(e?.description == "line 3: not valid JSON")
    }

    @Test func missingFieldIsNamed() {
        #expect(error("{\"prediction\":\"a\"}") == RougePairsFile.ParseError(line: 1, message: #"missing "reference""#))
        #expect(error("{\"prediction\":\"a\",\"reference\":\"b\"}\n{\"reference\":\"b\"}")
            == RougePairsFile.ParseError(line: 2, message: #"missing "prediction""#))
    }

    @Test func nonStringFieldIsRefused() {
        #expect(error("{\"prediction\":1,\"reference\":\"b\"}")
            == RougePairsFile.ParseError(line: 1, message: #""prediction" must be a string"#))
        #expect(error("{\"prediction\":\"a\",\"reference\":null}")
            == RougePairsFile.ParseError(line: 1, message: #""reference" must be a string"#))
    }

    @Test func nonObjectLineIsRefused() {
        for line in ["[\"a\", \"b\"]", "\"a\"", "42"] {
            #expect(error(line) == RougePairsFile.ParseError(
                line: 1, message: #"expected a JSON object with "prediction" and "reference""#), "\(line)")
        }
    }

    @Test func twoObjectsOnOneLineAreRefused() {
        #expect(error("{\"prediction\":\"a\",\"reference\":\"b\"} {\"prediction\":\"a\",\"reference\":\"b\"}")?.line == 1)
    }
}

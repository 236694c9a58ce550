import Foundation
import Testing
import Tokenization

/// The lab prompt for every DialogSum dev and test dialogue, id for id and decode for decode.
/// The dialogue text is read from assets/dialogsum; the fixture holds only ids and a hash of each
/// dialogue.
@Suite
struct DialogSumParityTests {
    struct Dialogue: Decodable {
        let fname: String
        let dialogue: String
    }

    static func dialogues() throws -> [String: String] {
        var byName: [String: String] = [:]
        for split in ["dev", "test"] {
            let text = try String(contentsOf: FixturePaths.dialogSum.appendingPathComponent("dialogsum.\(split).jsonl"), encoding: .utf8)
            for line in text.split(separator: "\n") where !line.isEmpty {
                let d = try JSONDecoder().decode(Dialogue.self, from: Data(line.utf8))
                byName[d.fname] = d.dialogue
            }
        }
        return byName
    }

    /// What the fixture stores when decode is just the prompt with whitespace collapsed.
    static func collapsingASCIIWhitespace(_ text: String) -> String {
        let whitespace: Set<Unicode.Scalar> = [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"]
        var words: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if whitespace.contains(scalar) {
                if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words.joined(separator: " ")
    }

    @Test func allPromptsMatchTransformers() throws {
        let fixture = try ReferenceFixtures.dialogSum.get()
        let dialogues = try Self.dialogues()
        try #require(fixture.dialogues.count == 1000)
        let t = try SharedTokenizers.transformers()
        var idFailures = 0
        var decodeFailures = 0
        for row in fixture.dialogues {
            let dialogue = try #require(dialogues[row.fname], "\(row.fname) missing from assets/dialogsum")
            try #require(ReferenceFixtures.fnv1a32(dialogue) == row.fnv1a32,
                         "\(row.fname) in assets/dialogsum differs from the text the fixture was made from; rerun make_tokenizer_fixtures.py")
            let expected = try #require(ReferenceFixtures.decodeVarints(row.ids), "bad ids for \(row.fname)")
            let prompt = fixture.prompt.replacingOccurrences(of: "{dialogue}", with: dialogue)
            let ids = t.encode(prompt)
            if ids != expected {
                idFailures += 1
                if idFailures <= 5 {
                    let at = zip(ids, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ids.count, expected.count)
                    Issue.record("\(row.fname): ids differ from index \(at): \(ids[at...].prefix(8)) vs \(expected[at...].prefix(8))")
                }
            }
            let decoded = t.decode(expected)
            let expectedText = row.decoded ?? Self.collapsingASCIIWhitespace(prompt)
            if !sameBytes(decoded, expectedText) {
                decodeFailures += 1
                if decodeFailures <= 5 { Issue.record("\(row.fname): decode \(decoded.debugDescription)") }
            }
        }
        #expect(idFailures == 0, "\(idFailures) of 1000 prompts encode differently")
        #expect(decodeFailures == 0, "\(decodeFailures) of 1000 prompts decode differently")
    }
}

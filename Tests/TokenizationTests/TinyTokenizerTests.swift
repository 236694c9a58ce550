import Foundation
import Testing
import Tokenization

/// Hand-built Unigram tokenizers recorded with `tokenizers` (tiny-tokenizers.json). They pin the
/// search itself — ties go to the piece found first, unknown characters cost min score - 10 and
/// runs of them fuse into one token — and need no real tokenizer.
struct TinyTokenizerTests {
    static let entries = (try? ReferenceFixtures.tiny.get().tokenizers) ?? []

    @Test func fixtureIsPresent() {
        #expect(Self.entries.count == 2)
    }

    @Test("matches tokenizers", arguments: entries)
    func matchesTokenizers(_ entry: ReferenceFixtures.Tiny.Entry) throws {
        let json = try JSONSerialization.data(withJSONObject: entry.tokenizer.value)
        let t = try T5Tokenizer(tokenizerJSON: json, pipeline: .tokenizerJSON)
        for c in entry.cases {
            #expect(t.encode(c.text) == c.ids, "\(entry.name): \(c.text.debugDescription)")
            #expect(sameBytes(t.decode(c.ids), c.decoded), "\(entry.name): \(c.ids) -> \(t.decode(c.ids).debugDescription)")
            #expect(sameBytes(t.decode(c.ids, skipSpecialTokens: false), c.decoded_with_special), "\(entry.name): \(c.ids)")
        }
    }

    /// With every score above 20, three unknowns (3 x 15) beat the piece "xyz" (26), and the
    /// fused run must then be looked up as a whole and found to be that piece.
    @Test func fusedUnknownRunThatSpellsAPieceTakesItsID() throws {
        let entry = try #require(Self.entries.first { $0.name == "positive scores" })
        let t = try T5Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: entry.tokenizer.value), pipeline: .tokenizerJSON)
        let xyz = try #require(t.id(forToken: "xyz"))
        #expect(t.encode("xyz", appendEOS: false) == [xyz])
        #expect(t.encode("zz", appendEOS: false) == [t.unkID])
    }
}

extension ReferenceFixtures.Tiny.Entry: CustomTestStringConvertible {
    var testDescription: String { name }
}

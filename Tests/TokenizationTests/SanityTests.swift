import Foundation
import Testing
import Tokenization

/// The literals every consumer of the tokenizer relies on, checked against the real FLAN-T5 files.
@Suite
struct SanityTests {
    @Test func knownPrompts() throws {
        let t = try SharedTokenizers.transformers()
        #expect(t.encode("Hello world") == [8774, 296, 1])
        #expect(t.encode("Summarize the following conversation.") == [12198, 1635, 1737, 8, 826, 3634, 5, 1])
        #expect(t.encode("Hello world", appendEOS: false) == [8774, 296])
    }

    @Test func specialIDsAndVocabulary() throws {
        let t = try SharedTokenizers.transformers()
        #expect(t.eosID == 1)
        #expect(t.padID == 0)
        #expect(t.unkID == 2)
        #expect(t.vocabularySize == 32100)
        #expect(t.id(forToken: "<extra_id_0>") == 32099)
        #expect(t.id(forToken: "<extra_id_99>") == 32000)
        #expect(t.id(forToken: "\u{2581}Hello") == 8774)
        #expect(t.id(forToken: "no such piece") == nil)
        #expect(t.token(forID: 8774) == "\u{2581}Hello")
        #expect(t.token(forID: 1) == "</s>")
        #expect(t.token(forID: 32100) == nil)
        #expect(t.token(forID: -1) == nil)
    }

    @Test func roundTrip() throws {
        let t = try SharedTokenizers.transformers()
        let text = "Summarize the following conversation.\n\n#Person1#: Hi!\n#Person2#: Hello.\n\nSummary: "
        #expect(t.decode(t.encode(text)) == "Summarize the following conversation. #Person1#: Hi! #Person2#: Hello. Summary:")
    }

    @Test func loadsFromDataAsFromDirectory() throws {
        let fromData = try T5Tokenizer(tokenizerJSON: SharedTokenizers.flanTokenizerJSON())
        let fromDirectory = try SharedTokenizers.transformers()
        let text = "<extra_id_0> Ầ ﬁsh   \t x"
        #expect(fromData.encode(text) == fromDirectory.encode(text))
        #expect(fromData.vocabularySize == fromDirectory.vocabularySize)
    }
}

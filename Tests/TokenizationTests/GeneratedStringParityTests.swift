import Testing
import Tokenization

/// 500 seeded random strings over an alphabet of accents (composed and not), compatibility
/// characters, odd spaces, controls, emoji parts, several scripts and added-token fragments,
/// plus 200 random id lists, all against Hugging Face.
@Suite
struct GeneratedStringParityTests {
    @Test func encodeAndDecodeMatchTransformers() throws {
        let fixture = try ReferenceFixtures.generated.get()
        try #require(fixture.encode.count == 500)
        let t = try SharedTokenizers.transformers()
        var failures = 0
        for c in fixture.encode {
            try #require(c.text.utf8.count == c.utf8_length)
            let ids = t.encode(c.text)
            let decoded = t.decode(c.ids)
            if ids != c.ids || !sameBytes(decoded, c.decoded) {
                failures += 1
                if failures <= 10 {
                    Issue.record("\(c.text.debugDescription): ids \(ids) expected \(c.ids); decode \(decoded.debugDescription) expected \(c.decoded.debugDescription)")
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(fixture.encode.count) generated strings differ")
    }

    @Test func encodeAndDecodeMatchTokenizerJSON() throws {
        let fixture = try ReferenceFixtures.generated.get()
        let t = try SharedTokenizers.tokenizerJSON()
        var failures = 0
        for c in fixture.encode {
            let ids = t.encode(c.text)
            let decoded = t.decode(c.tokenizer_json_ids)
            if ids != c.tokenizer_json_ids || !sameBytes(decoded, c.tokenizer_json_decoded) {
                failures += 1
                if failures <= 10 {
                    Issue.record("\(c.text.debugDescription): ids \(ids) expected \(c.tokenizer_json_ids); decode \(decoded.debugDescription)")
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(fixture.encode.count) generated strings differ")
    }

    @Test func randomIDListsDecode() throws {
        let fixture = try ReferenceFixtures.generated.get()
        try #require(fixture.decode.count == 200)
        let t = try SharedTokenizers.transformers()
        for c in fixture.decode {
            #expect(sameBytes(t.decode(c.ids), c.skip), "\(c.ids)")
            #expect(sameBytes(t.decode(c.ids, skipSpecialTokens: false), c.keep), "\(c.ids)")
        }
    }
}

import Foundation
import Testing
import Tokenization

/// Hand-written edge cases (hard-strings.json): Unicode normalization, whitespace, control
/// characters, added tokens in text, unknown characters, degenerate inputs.
@Suite
struct HardStringParityTests {
    static let cases = (try? ReferenceFixtures.hardStrings.get().encode) ?? []
    static let decodeCases = (try? ReferenceFixtures.hardStrings.get().decode) ?? []

    @Test func fixtureIsPresent() throws {
        let fixture = try ReferenceFixtures.hardStrings.get()
        #expect(fixture.encode.count >= 90)
        #expect(fixture.decode.count >= 10)
    }

    @Test("encode and decode match transformers", arguments: cases)
    func matchesTransformers(_ c: ReferenceFixtures.HardStrings.Encode) throws {
        try #require(c.text.utf8.count == c.utf8_length, "fixture text did not survive JSON decoding byte for byte")
        let t = try SharedTokenizers.transformers()
        #expect(t.encode(c.text) == c.ids, "\(c.name)")
        #expect(t.encode(c.text, appendEOS: false) == c.ids_without_eos, "\(c.name)")
        let decoded = t.decode(c.ids)
        #expect(sameBytes(decoded, c.decoded), "\(c.name): \(decoded.debugDescription) != \(c.decoded.debugDescription)")
        let kept = t.decode(c.ids, skipSpecialTokens: false)
        #expect(sameBytes(kept, c.decoded_with_special), "\(c.name): \(kept.debugDescription)")
    }

    @Test("encode and decode match tokenizers.Tokenizer.from_file", arguments: cases)
    func matchesTokenizerJSON(_ c: ReferenceFixtures.HardStrings.Encode) throws {
        let t = try SharedTokenizers.tokenizerJSON()
        #expect(t.encode(c.text) == c.tokenizer_json_ids, "\(c.name)")
        let decoded = t.decode(c.tokenizer_json_ids)
        #expect(sameBytes(decoded, c.tokenizer_json_decoded), "\(c.name): \(decoded.debugDescription)")
    }

    @Test("decode of id lists", arguments: decodeCases)
    func decodesIDLists(_ c: ReferenceFixtures.HardStrings.Decode) throws {
        let t = try SharedTokenizers.transformers()
        #expect(sameBytes(t.decode(c.ids), c.skip), "\(c.ids) -> \(t.decode(c.ids).debugDescription)")
        #expect(sameBytes(t.decode(c.ids, skipSpecialTokens: false), c.keep), "\(c.ids)")
        let raw = try SharedTokenizers.tokenizerJSON()
        #expect(sameBytes(raw.decode(c.ids), c.tokenizer_json_skip), "\(c.ids)")
        #expect(sameBytes(raw.decode(c.ids, skipSpecialTokens: false), c.tokenizer_json_keep), "\(c.ids)")
    }

    /// tokenizer_config.json's `clean_up_tokenization_spaces` is honoured when loading a directory.
    @Test func cleanUpTokenizationSpacesFromConfig() throws {
        let cases = try ReferenceFixtures.hardStrings.get().clean_up_tokenization_spaces
        try #require(!cases.isEmpty)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("t5-cleanup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("tokenizer.json"),
                                                   withDestinationURL: FixturePaths.flanT5.appendingPathComponent("tokenizer.json"))
        try Data(#"{"clean_up_tokenization_spaces": true, "tokenizer_class": "T5Tokenizer"}"#.utf8)
            .write(to: directory.appendingPathComponent("tokenizer_config.json"))
        let t = try T5Tokenizer(directory: directory)
        let plain = try SharedTokenizers.transformers()
        for c in cases {
            #expect(t.encode(c.text) == c.ids)
            #expect(sameBytes(t.decode(c.ids), c.decoded), "\(t.decode(c.ids).debugDescription) != \(c.decoded.debugDescription)")
            #expect(!sameBytes(plain.decode(c.ids), c.decoded), "case does not exercise the clean-up")
        }
    }
}

extension ReferenceFixtures.HardStrings.Encode: CustomTestStringConvertible {
    var testDescription: String { name }
}

extension ReferenceFixtures.HardStrings.Decode: CustomTestStringConvertible {
    var testDescription: String { "\(ids)" }
}

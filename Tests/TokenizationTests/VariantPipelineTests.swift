import Foundation
import Testing
import Tokenization

/// tokenizer.json files whose pipeline differs from FLAN-T5's (Strip, literal and regex Replace,
/// Prepend, Metaspace `first`/`never`/legacy `add_prefix_space`, no split, WhitespaceSplit, no
/// decoder, a template with a prefix, normalized and non-special added tokens), built from the
/// shared file the way the fixture script built them and run through `.tokenizerJSON`.
@Suite
struct VariantPipelineTests {
    static let variants = (try? ReferenceFixtures.hardStrings.get().variants) ?? []

    @Test func fixtureIsPresent() {
        #expect(Self.variants.count == 3)
    }

    @Test("variant matches tokenizers", arguments: variants)
    func matchesTokenizers(_ variant: ReferenceFixtures.HardStrings.Variant) throws {
        let t = try T5Tokenizer(tokenizerJSON: try Self.build(variant), pipeline: .tokenizerJSON)
        for c in variant.cases {
            #expect(t.encode(c.text) == c.ids, "\(c.text.debugDescription)")
            #expect(sameBytes(t.decode(c.ids), c.decoded), "\(c.ids) -> \(t.decode(c.ids).debugDescription)")
            #expect(sameBytes(t.decode(c.ids, skipSpecialTokens: false), c.decoded_with_special),
                    "\(c.ids) -> \(t.decode(c.ids, skipSpecialTokens: false).debugDescription)")
        }
    }

    /// The shared file with four components and the added tokens replaced. The model section is
    /// copied as text: re-serializing it through Foundation could change score literals, and
    /// the tokenizer.json pipeline parses them the way serde_json does.
    static func build(_ variant: ReferenceFixtures.HardStrings.Variant) throws -> Data {
        let original = try SharedTokenizers.flanTokenizerJSON()
        let object = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
        let normalizers = try #require((object["normalizer"] as? [String: Any])?["normalizers"] as? [[String: Any]])
        let charsMap = try #require(normalizers.first { $0["type"] as? String == "Precompiled" }?["precompiled_charsmap"] as? String)
        func substitute(_ value: Any) -> Any {
            if let s = value as? String, s == "$FLAN" { return charsMap }
            if let d = value as? [String: Any] { return d.mapValues(substitute) }
            if let a = value as? [Any] { return a.map(substitute) }
            return value
        }
        func text(_ value: Any) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: substitute(value), options: [.fragmentsAllowed]), as: UTF8.self)
        }
        let added = (object["added_tokens"] as? [Any] ?? []) + (variant.extra_added_tokens.value as? [Any] ?? [])
        let bytes = [UInt8](original)
        let key = Array(#""model":"#.utf8)
        let keyStart = try #require((0...(bytes.count - key.count)).first { bytes[$0..<($0 + key.count)].elementsEqual(key) })
        let closing = try #require(bytes.lastIndex(of: UInt8(ascii: "}")))
        let model = String(decoding: bytes[(keyStart + key.count)..<closing], as: UTF8.self)
        let json = """
            {"version":"1.0","truncation":null,"padding":null,"added_tokens":\(try text(added)),\
            "normalizer":\(try text(variant.normalizer.value)),"pre_tokenizer":\(try text(variant.pre_tokenizer.value)),\
            "post_processor":\(try text(variant.post_processor.value)),"decoder":\(try text(variant.decoder.value)),\
            "model":\(model)}
            """
        return Data(json.utf8)
    }
}

extension ReferenceFixtures.HardStrings.Variant: CustomTestStringConvertible {
    var testDescription: String { name }
}

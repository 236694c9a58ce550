import Foundation
import Testing
@testable import Tokenization

/// Piece scores must be bit-identical to the library each pipeline reproduces, or Viterbi ties
/// can break differently.
struct ScoreParsingTests {
    /// Bit patterns produced by `tokenizers` (serde_json) and by Python for the same literals.
    @Test(arguments: [
        ("-2.0122928619384766", 0xC000_192D_0000_0001 as UInt64, 0xC000_192D_0000_0000 as UInt64),
        ("-3.9598512649536133", 0xC00F_ADC6_8000_0001, 0xC00F_ADC6_8000_0000),
        ("-13.590115547180176", 0xC02B_2E23_A000_0000, 0xC02B_2E23_A000_0000),
        ("123456789012345678901234.5", 0x44BA_249B_1F10_A06C, 0x44BA_249B_1F10_A06D),
        ("0.1234567890123456789012", 0x3FBF_9ADD_3746_F65F, 0x3FBF_9ADD_3746_F65F),
        ("1e-5", 0x3EE4_F8B5_88E3_68F1, 0x3EE4_F8B5_88E3_68F1),
        ("12.5e3", 0x40C8_6A00_0000_0000, 0x40C8_6A00_0000_0000),
        ("-0.0", 0x8000_0000_0000_0000, 0x8000_0000_0000_0000),
        ("0", 0, 0),
    ])
    func literal(_ literal: String, serde: UInt64, correct: UInt64) throws {
        #expect(try #require(ScoreParsing.serdeJSON.parse(literal)).bitPattern == serde)
        #expect(try #require(ScoreParsing.correctlyRounded.parse(literal)).bitPattern == correct)
    }

    @Test(arguments: ["", "-", "1.", ".5", "1e", "1e+", "abc", "1.5x", "--1"])
    func rejectsMalformedLiterals(_ literal: String) {
        #expect(ScoreParsing.serdeJSON.parse(literal) == nil)
    }

    /// Every FLAN-T5 score, hashed, against the hash of the scores each library holds.
    @Test
    func allFlanScoresMatchTheirLibrary() throws {
        let expected = try ReferenceFixtures.hardStrings.get().score_bits_fnv1a64
        let json = [UInt8](try SharedTokenizers.flanTokenizerJSON())
        for (pipeline, key) in [(T5Tokenizer.Pipeline.transformers, "transformers"), (.tokenizerJSON, "tokenizer_json")] {
            let scores = try TokenizerDefinition.parse(json: json, pipeline: pipeline).model.scores
            #expect(scores.count == 32100)
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for score in scores {
                var bits = score.bitPattern
                for _ in 0..<8 {
                    hash = (hash ^ (bits & 0xFF)) &* 0x0000_0100_0000_01B3
                    bits >>= 8
                }
            }
            let hex = String(hash, radix: 16)
            #expect(String(repeating: "0", count: 16 - hex.count) + hex == expected[key], "\(key)")
        }
    }
}

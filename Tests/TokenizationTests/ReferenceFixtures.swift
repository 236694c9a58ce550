import Foundation

/// The committed outputs of Hugging Face's tokenizers, written by
/// scripts/reference/make_tokenizer_fixtures.py.
enum ReferenceFixtures {
    /// One encode/decode case of a tokenizer variant: ids, and the text decoded without and with
    /// special tokens.
    struct SpecialTokensCase: Decodable {
        let text: String
        let ids: [Int32]
        let decoded: String
        let decoded_with_special: String
    }

    struct HardStrings: Decodable {
        struct Encode: Decodable {
            let name: String
            let text: String
            let utf8_length: Int
            let ids: [Int32]
            let ids_without_eos: [Int32]
            let decoded: String
            let decoded_with_special: String
            let tokenizer_json_ids: [Int32]
            let tokenizer_json_decoded: String
        }
        struct Decode: Decodable {
            let ids: [Int32]
            let skip: String
            let keep: String
            let tokenizer_json_skip: String
            let tokenizer_json_keep: String
        }
        struct CleanUp: Decodable {
            let text: String
            let ids: [Int32]
            let decoded: String
        }
        struct Variant: Decodable {
            typealias Case = SpecialTokensCase
            let name: String
            let normalizer: JSONFragment
            let pre_tokenizer: JSONFragment
            let decoder: JSONFragment
            let post_processor: JSONFragment
            let extra_added_tokens: JSONFragment
            let cases: [Case]
        }
        let score_bits_fnv1a64: [String: String]
        let encode: [Encode]
        let decode: [Decode]
        let clean_up_tokenization_spaces: [CleanUp]
        let variants: [Variant]
    }

    struct Generated: Decodable {
        struct Encode: Decodable {
            let text: String
            let utf8_length: Int
            let ids: [Int32]
            let decoded: String
            let tokenizer_json_ids: [Int32]
            let tokenizer_json_decoded: String
        }
        struct Decode: Decodable {
            let ids: [Int32]
            let skip: String
            let keep: String
        }
        let encode: [Encode]
        let decode: [Decode]
    }

    struct DialogSum: Decodable {
        struct Row: Decodable {
            let fname: String
            let fnv1a32: String
            let ids: String
            let decoded: String?
        }
        let prompt: String
        let dialogues: [Row]
    }

    struct Tiny: Decodable {
        struct Entry: Decodable {
            typealias Case = SpecialTokensCase
            let name: String
            let tokenizer: JSONFragment
            let cases: [Case]
        }
        let tokenizers: [Entry]
    }

    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = FixturePaths.fixtures.appendingPathComponent(name)
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    static let hardStrings = Result { try load("hard-strings.json", as: HardStrings.self) }
    static let generated = Result { try load("generated-strings.json", as: Generated.self) }
    static let dialogSum = Result { try load("dialogsum.json", as: DialogSum.self) }
    static let tiny = Result { try load("tiny-tokenizers.json", as: Tiny.self) }

    /// Inverse of the script's `varints`: base64 of LEB128 groups, low bits first.
    static func decodeVarints(_ base64: String) -> [Int32]? {
        guard let data = Data(base64Encoded: base64) else { return nil }
        var ids: [Int32] = []
        var value: Int32 = 0
        var shift: Int32 = 0
        for byte in data {
            value |= Int32(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                ids.append(value)
                value = 0
                shift = 0
            } else {
                shift += 7
                if shift > 28 { return nil }
            }
        }
        return shift == 0 ? ids : nil
    }

    static func fnv1a32(_ text: String) -> String {
        var hash: UInt32 = 0x811C_9DC5
        for byte in text.utf8 { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}

/// An arbitrary JSON value from a fixture, kept as Foundation objects so a test can splice it
/// into a tokenizer.json it builds. Never mutated after decoding, hence the unchecked Sendable.
struct JSONFragment: Decodable, @unchecked Sendable {
    let value: Any

    init(from decoder: Swift.Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = NSNull()
        } else if let b = try? container.decode(Bool.self) {
            value = b
        } else if let i = try? container.decode(Int.self) {
            value = i
        } else if let d = try? container.decode(Double.self) {
            value = d
        } else if let s = try? container.decode(String.self) {
            value = s
        } else if let a = try? container.decode([JSONFragment].self) {
            value = a.map(\.value)
        } else {
            value = try container.decode([String: JSONFragment].self).mapValues(\.value)
        }
    }
}

/// Strings are compared as UTF-8 bytes: Swift's `==` treats "é" and "e\u{301}" as equal, which
/// would hide exactly the normalization differences these tests exist to catch.
func sameBytes(_ a: String, _ b: String) -> Bool {
    Array(a.utf8) == Array(b.utf8)
}

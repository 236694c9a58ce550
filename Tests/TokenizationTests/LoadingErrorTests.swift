import Foundation
import Testing
import Tokenization

/// A tokenizer that cannot load must say which file is wrong and what to do, never crash and
/// never half-load. These run on small hand-written tokenizer.json files.
struct LoadingErrorTests {
    /// A minimal valid T5-style tokenizer.json that each test breaks in one way.
    static func json(vocab: String = #"[["<pad>",0.0],["</s>",0.0],["<unk>",0.0],["\u2581",-2.0],["a",-3.0]]"#,
                     model: String? = nil, normalizer: String = "null", preTokenizer: String = "null",
                     decoder: String = "null", addedTokens: String? = nil) -> Data {
        let added = addedTokens ?? #"[{"id":1,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}]"#
        let modelJSON = model ?? #"{"type":"Unigram","unk_id":2,"vocab":\#(vocab),"byte_fallback":false}"#
        return Data(#"""
            {"version":"1.0","truncation":null,"padding":null,"added_tokens":\#(added),"normalizer":\#(normalizer),
             "pre_tokenizer":\#(preTokenizer),"post_processor":null,"decoder":\#(decoder),"model":\#(modelJSON)}
            """#.utf8)
    }

    static func message(_ body: () throws -> T5Tokenizer) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as TokenizerError {
            return error.message
        } catch {
            return "unexpected error type: \(error)"
        }
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("t5-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func baseFixtureLoads() throws {
        let transformers = try T5Tokenizer(tokenizerJSON: Self.json())
        #expect(transformers.encode("a a") == [3, 4, 3, 4, 1])
        #expect(transformers.vocabularySize == 5)
        // No pre-tokenizer or template in the file: one word, the space is unknown, no </s>.
        let serialized = try T5Tokenizer(tokenizerJSON: Self.json(), pipeline: .tokenizerJSON)
        #expect(serialized.encode("a a") == [4, 2, 4])
    }

    @Test func missingDirectory() {
        let missing = URL(fileURLWithPath: "/nonexistent/flan-t5-\(UUID().uuidString)")
        let message = Self.message { try T5Tokenizer(directory: missing) }
        #expect(message?.contains("does not exist") == true)
        #expect(message?.contains(missing.path) == true)
    }

    @Test func missingTokenizerJSON() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let message = Self.message { try T5Tokenizer(directory: directory) }
        #expect(message == "tokenizer.json not found in \(directory.path): copy tokenizer.json from the Hugging Face snapshot")
    }

    @Test func onlySentencePieceModelPresent() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data([0x0A, 0x00]).write(to: directory.appendingPathComponent("spiece.model"))
        let message = Self.message { try T5Tokenizer(directory: directory) } ?? ""
        #expect(message.contains("only spiece.model"), "\(message)")
        #expect(message.contains("save_pretrained"), "\(message)")
    }

    @Test func garbledTokenizerJSON() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("tokenizer.json")
        try Data("{\"version\": \"1.0\", \"model\": {\"vocab\": [[\"a\", -1.0]".utf8).write(to: file)
        let message = Self.message { try T5Tokenizer(directory: directory) } ?? ""
        #expect(message == "\(file.path) is not valid JSON (byte 50: unterminated array); the file is truncated or "
            + "corrupt, copy it again from the Hugging Face snapshot")
    }

    @Test func garbledTokenizerConfig() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.json().write(to: directory.appendingPathComponent("tokenizer.json"))
        try Data("{not json".utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        let message = Self.message { try T5Tokenizer(directory: directory) } ?? ""
        #expect(message.contains("tokenizer_config.json is not valid JSON"), "\(message)")
    }

    @Test func malformedDocuments() {
        let cases: [(Data, String)] = [
            (Data(), "not valid JSON"),
            (Data([0xFF, 0xFE, 0x00]), "not valid JSON"),
            (Data("[1, 2]".utf8), "not an object"),
            (Data(#"{"model": {"type": "Unigram", "vocab": []}}"#.utf8), "model.vocab is missing or empty"),
            (Self.json(vocab: #"[["<pad>",0.0],["</s>"],["<unk>",0.0]]"#), "model.vocab[1] is not a [piece, score] pair"),
            (Self.json(vocab: #"[["<pad>",0.0],["</s>","high"],["<unk>",0.0]]"#), "model.vocab[1] is not a [piece, score] pair"),
            (Self.json(model: #"{"type":"BPE","vocab":{},"merges":[]}"#), "uses a BPE model"),
            (Self.json(vocab: #"[["<pad>",0.0],["</s>",0.0]]"#), "reserves id 2 for <unk>"),
            (Self.json(vocab: #"[["<pad>",0.0],["x",0.0],["<unk>",0.0]]"#, addedTokens: "[]"), "has no </s> token"),
            (Self.json(normalizer: #"{"type":"Precompiled","precompiled_charsmap":"not base64!"}"#), "not valid base64"),
            (Self.json(normalizer: #"{"type":"Precompiled","precompiled_charsmap":"AAA="}"#), "shorter than its 4-byte header"),
            (Self.json(normalizer: #"{"type":"Precompiled","precompiled_charsmap":"AAEAAAAA"}"#), "declares a 256-byte trie"),
            (Self.json(addedTokens: #"[{"id":1,"content":"</s>","lstrip":true,"special":true}]"#), "lstrip=true"),
        ]
        for (data, expected) in cases {
            let message = Self.message { try T5Tokenizer(tokenizerJSON: data) } ?? "loaded without error"
            #expect(message.contains(expected), "expected “\(expected)” in “\(message)”")
        }
    }

    /// Components are only refused where they matter: the transformers pipeline ignores the
    /// serialized pre-tokenizer and decoder, the tokenizer.json pipeline must run them.
    @Test func unsupportedComponentsInSerializedPipeline() {
        let cases: [(Data, String)] = [
            (Self.json(normalizer: #"{"type":"NFKC"}"#), "normalizer uses a NFKC normalizer"),
            (Self.json(normalizer: #"{"type":"Sequence","normalizers":[{"type":"Lowercase"}]}"#), "normalizer.normalizers[0] uses a Lowercase normalizer"),
            (Self.json(preTokenizer: #"{"type":"ByteLevel"}"#), "pre_tokenizer uses a ByteLevel pre-tokenizer"),
            (Self.json(preTokenizer: #"{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Metaspace","replacement":"\u2581","prepend_scheme":"first"}]}"#),
             "prepend_scheme \"first\" after another pre-tokenizer"),
            (Self.json(preTokenizer: #"{"type":"Metaspace","replacement":"\u2581","add_prefix_space":false}"#), "add_prefix_space false"),
            (Self.json(decoder: #"{"type":"ByteLevel"}"#), "decoder uses a ByteLevel decoder"),
            (Self.json(model: #"{"type":"Unigram","unk_id":null,"vocab":[["<pad>",0.0],["</s>",0.0]]}"#), "model.unk_id is missing"),
            (Self.json(model: #"{"type":"Unigram","unk_id":9,"vocab":[["<pad>",0.0],["</s>",0.0]]}"#), "model.unk_id is 9"),
            (Self.json(model: #"{"type":"Unigram","unk_id":0,"byte_fallback":true,"vocab":[["<pad>",0.0],["</s>",0.0]]}"#), "byte fallback"),
        ]
        for (data, expected) in cases {
            let message = Self.message { try T5Tokenizer(tokenizerJSON: data, pipeline: .tokenizerJSON) } ?? "loaded without error"
            #expect(message.contains(expected), "expected “\(expected)” in “\(message)”")
            #expect(message.contains("tokenizer.json"), "\(message)")
        }
        #expect(Self.message { try T5Tokenizer(tokenizerJSON: Self.json(preTokenizer: #"{"type":"ByteLevel"}"#)) } == nil)
    }
}

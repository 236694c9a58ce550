import Foundation

/// FLAN-T5's SentencePiece Unigram tokenizer, id-for-id and string-for-string equal to what
/// transformers 5 (`AutoTokenizer`, tokenizers backend) produces for the same tokenizer.json.
///
/// Encoding runs the same stages as Hugging Face: added tokens are cut out of the raw text,
/// the rest is normalized with the model's precompiled charsmap, split into words, and each
/// word segmented by Viterbi search over piece scores; `</s>` is appended.
public struct T5Tokenizer: Sendable {
    /// Which Hugging Face object to reproduce. They share vocabulary and charsmap but not the
    /// surrounding pipeline, and give different ids for text with leading, trailing or
    /// non-space whitespace.
    public enum Pipeline: Sendable {
        /// `transformers.AutoTokenizer.from_pretrained(dir)`: what the model was fine-tuned and
        /// evaluated with in Python, and what serving must match.
        case transformers
        /// `tokenizers.Tokenizer.from_file("tokenizer.json")`: the file's components exactly as
        /// serialized (FLAN-T5's adds a Replace of space runs and no whitespace split).
        case tokenizerJSON
    }

    private let definition: TokenizerDefinition
    private let rawMatcher: AddedTokenMatcher
    /// Added tokens with `normalized: true`, matched after normalization. Usually none.
    private let normalizedMatcher: AddedTokenMatcher?
    private let addedByID: [Int32: (text: String, special: Bool)]
    private let addedIDs: [String: Int32]
    private let specialContents: Set<String>
    private let cleanUpTokenizationSpaces: Bool

    public let eosID: Int32
    public let padID: Int32
    public let unkID: Int32
    /// Pieces plus added tokens not already among them: 32,100 for FLAN-T5, whose sentinels
    /// `<extra_id_N>` are part of the vocabulary. Equals `len(tokenizer)` in transformers, and
    /// is what an embedding matrix must cover.
    public let vocabularySize: Int

    /// Reads `tokenizer.json` from a Hugging Face model directory, and
    /// `clean_up_tokenization_spaces` from `tokenizer_config.json` when present.
    public init(directory: URL, pipeline: Pipeline = .transformers) throws(TokenizerError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TokenizerError("tokenizer directory \(directory.path) does not exist: pass the folder of the "
                + "Hugging Face model snapshot (the one holding tokenizer.json)")
        }
        let file = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: file.path) else {
            let hasSentencePiece = FileManager.default.fileExists(atPath: directory.appendingPathComponent("spiece.model").path)
            throw TokenizerError("tokenizer.json not found in \(directory.path): "
                + (hasSentencePiece
                    ? "only spiece.model is there, which this tokenizer does not read; copy tokenizer.json from the "
                        + "Hugging Face snapshot or write it with transformers (AutoTokenizer.from_pretrained(dir)"
                        + ".save_pretrained(dir), which needs the sentencepiece and protobuf packages)"
                    : "copy tokenizer.json from the Hugging Face snapshot"))
        }
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw TokenizerError("cannot read \(file.path): \(error.localizedDescription); check the file's permissions")
        }
        var cleanUp = false
        let config = directory.appendingPathComponent("tokenizer_config.json")
        if pipeline == .transformers, let configData = try? Data(contentsOf: config) {
            guard let object = try? JSONValue.parse([UInt8](configData)) else {
                throw TokenizerError("\(config.path) is not valid JSON; copy tokenizer_config.json from the Hugging Face "
                    + "snapshot or delete it")
            }
            cleanUp = object["clean_up_tokenization_spaces"]?.bool ?? false
        }
        do {
            try self.init(tokenizerJSON: data, pipeline: pipeline, cleanUpTokenizationSpaces: cleanUp)
        } catch {
            // Messages name "tokenizer.json"; here we know which one.
            let name = "tokenizer.json"
            throw TokenizerError(error.message.hasPrefix(name)
                ? file.path + error.message.dropFirst(name.count) : "\(file.path): \(error.message)")
        }
    }

    /// - Parameter cleanUpTokenizationSpaces: transformers' decode-time removal of spaces before
    ///   punctuation and contractions; off by default in transformers 5 and for FLAN-T5.
    public init(tokenizerJSON: Data, pipeline: Pipeline = .transformers,
                cleanUpTokenizationSpaces: Bool = false) throws(TokenizerError) {
        let definition = try TokenizerDefinition.parse(json: [UInt8](tokenizerJSON), pipeline: pipeline)
        self.definition = definition
        self.cleanUpTokenizationSpaces = cleanUpTokenizationSpaces

        var raw: [(pattern: [UInt8], id: Int32)] = []
        var normalized: [(pattern: [UInt8], id: Int32)] = []
        var byID: [Int32: (text: String, special: Bool)] = [:]
        var ids: [String: Int32] = [:]
        var special = Set<String>()
        for token in definition.addedTokens {
            var text = token.content
            if token.normalized {
                // Matched, and decoded, in normalized form, as `tokenizers` caches it.
                let form = definition.normalizer?.normalize(Array(token.content.utf8)[...]) ?? Array(token.content.utf8)
                text = String(decoding: form, as: UTF8.self)
                normalized.append((form, token.id))
            } else {
                raw.append((Array(token.content.utf8), token.id))
            }
            byID[token.id] = (text, token.special)
            ids[token.content] = token.id
            if token.special { special.insert(token.content) }
        }
        rawMatcher = AddedTokenMatcher(raw)
        normalizedMatcher = normalized.isEmpty ? nil : AddedTokenMatcher(normalized)
        addedByID = byID
        addedIDs = ids
        specialContents = special

        func required(_ token: String) throws(TokenizerError) -> Int32 {
            guard let id = ids[token] ?? definition.modelIDs[token] else {
                throw TokenizerError("tokenizer.json has no \(token) token; this does not look like a T5 tokenizer")
            }
            return id
        }
        eosID = try required("</s>")
        padID = try required("<pad>")
        unkID = definition.model.unkID
        vocabularySize = definition.model.pieces.count + ids.keys.filter { definition.modelIDs[$0] == nil }.count
    }


    public func id(forToken token: String) -> Int32? {
        addedIDs[token] ?? definition.modelIDs[token]
    }

    public func token(forID id: Int32) -> String? {
        if let added = addedByID[id] { return added.text }
        guard id >= 0, Int(id) < definition.model.pieces.count else { return nil }
        return definition.model.pieces[Int(id)]
    }

    /// Nothing is truncated: FLAN-T5's 512-token `model_max_length` only makes transformers warn,
    /// so callers that must fit the model cut the ids themselves.
    ///
    /// - Parameter appendEOS: transformers' `add_special_tokens`; adds the template's tokens
    ///   (`</s>` at the end for T5).
    public func encode(_ text: String, appendEOS: Bool = true) -> [Int32] {
        encodeCountingSteps(text, appendEOS: appendEOS).ids
    }

    /// `encode`, plus the number of elementary steps it took: bytes handed to the normalizer and
    /// pre-tokenizer, lattice cells cleared and trie edges followed. Tests use the count to prove
    /// that encoding costs linear work per character, which a wall-clock bound cannot show
    /// reliably on a shared machine.
    public func encodeCountingSteps(_ text: String, appendEOS: Bool = true) -> (ids: [Int32], steps: Int) {
        let bytes = Array(text.utf8)
        var ids: [Int32] = []
        ids.reserveCapacity(bytes.count / 3 + 4)
        if appendEOS { ids += definition.prefixIDs }
        var lattice = UnigramModel.Lattice()
        for piece in rawMatcher.split(bytes[...]) {
            switch piece {
            case .token(let id):
                ids.append(id)
            case .text(let range):
                var startStaysAligned = true
                let normalized = definition.normalizer?.normalize(bytes[range], startStaysAligned: &startStaysAligned)
                    ?? Array(bytes[range])
                lattice.steps += range.count + normalized.count
                let atStart = range.lowerBound == 0 && startStaysAligned
                guard let normalizedMatcher else {
                    encodeWords(normalized, atStartOfInput: atStart, into: &ids, lattice: &lattice)
                    continue
                }
                for inner in normalizedMatcher.split(normalized[...]) {
                    switch inner {
                    case .token(let id):
                        ids.append(id)
                    case .text(let innerRange):
                        encodeWords(Array(normalized[innerRange]), atStartOfInput: atStart && innerRange.lowerBound == 0,
                                    into: &ids, lattice: &lattice)
                    }
                }
            }
        }
        if appendEOS { ids += definition.suffixIDs }
        return (ids, lattice.steps)
    }

    private func encodeWords(_ segment: [UInt8], atStartOfInput: Bool, into ids: inout [Int32],
                             lattice: inout UnigramModel.Lattice) {
        if let preTokenizer = definition.preTokenizer {
            let words = preTokenizer.split(segment, atStartOfInput: atStartOfInput)
            lattice.steps += segment.count + words.bytes.count
            for range in words.ranges {
                definition.model.encode(words.bytes, range, into: &ids, lattice: &lattice)
            }
        } else {
            definition.model.encode(segment, 0..<segment.count, into: &ids, lattice: &lattice)
        }
    }

    /// Ids outside the vocabulary are dropped, as `tokenizers` does. With `skipSpecialTokens`,
    /// special added tokens (`<pad>`, `</s>`, `<unk>`, sentinels) are removed before the
    /// decoder runs, so the first remaining piece loses its leading ▁.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = true) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            let text: String
            if let added = addedByID[id] {
                text = added.text
            } else if id >= 0, Int(id) < definition.model.pieces.count {
                text = definition.model.pieces[Int(id)]
            } else {
                continue
            }
            if skipSpecialTokens && specialContents.contains(text) { continue }
            tokens.append(text)
        }
        let decoded = definition.decoder.decode(tokens)
        return cleanUpTokenizationSpaces ? TokenizationSpaceCleanup.apply(decoded) : decoded
    }
}

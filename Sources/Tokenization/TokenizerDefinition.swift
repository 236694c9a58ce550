import Foundation

/// Everything `T5Tokenizer` needs, read out of tokenizer.json.
struct TokenizerDefinition: Sendable {
    var model: UnigramModel
    var modelIDs: [String: Int32]
    var addedTokens: [AddedToken]
    var normalizer: Normalizer?
    var preTokenizer: PreTokenizer?
    var decoder: Decoder
    var prefixIDs: [Int32]
    var suffixIDs: [Int32]

    static func parse(json bytes: [UInt8], pipeline: T5Tokenizer.Pipeline) throws(TokenizerError) -> TokenizerDefinition {
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes)
        } catch {
            throw TokenizerError("tokenizer.json is not valid JSON (byte \(error.offset): \(error.problem)); "
                + "the file is truncated or corrupt, copy it again from the Hugging Face snapshot")
        }
        guard case .object = root else {
            throw TokenizerError("tokenizer.json is JSON but not an object; copy tokenizer.json from the Hugging Face snapshot")
        }
        switch pipeline {
        case .transformers: return try transformersT5(root)
        case .tokenizerJSON: return try asSerialized(root)
        }
    }

    /// What transformers 5's `T5Tokenizer` builds from tokenizer.json: it keeps only the
    /// vocabulary, the charsmap and the added tokens, and rebuilds the rest itself — Unigram
    /// with unk id 2, no Replace normalizer, WhitespaceSplit then Metaspace(always, split),
    /// a Metaspace decoder, and `$A </s>` as the template. It differs from the serialized
    /// pipeline on leading, trailing and non-space whitespace.
    private static func transformersT5(_ root: JSONValue) throws(TokenizerError) -> TokenizerDefinition {
        let (pieces, scores) = try vocabulary(root, scores: .correctlyRounded)
        guard pieces.count > 2 else {
            throw .invalid("model.vocab", "has \(pieces.count) pieces, but T5 reserves id 2 for <unk>")
        }
        let model = UnigramModel(pieces: pieces, scores: scores, unkID: 2)
        var normalizer: Normalizer?
        if let spec = root["normalizer"], !spec.isNull {
            let candidates = spec["type"]?.string == "Sequence" ? (spec["normalizers"]?.array ?? []) : [spec]
            if let precompiled = candidates.first(where: { $0["type"]?.string == "Precompiled" && $0["precompiled_charsmap"] != nil }) {
                normalizer = try charsMap(precompiled, path: "normalizer")
            }
        }
        let preTokenizer = PreTokenizer.sequence([
            .whitespaceSplit,
            .metaspace(replacement: UTF8Scanning.metaspace, prependScheme: .always, split: true),
        ])
        let modelIDs = Self.modelIDs(pieces)
        let added = try addedTokens(root, modelIDs: modelIDs, modelSize: pieces.count)
        guard let eos = added.first(where: { $0.content == "</s>" })?.id ?? modelIDs["</s>"] else {
            throw .invalid("vocabulary", "has no </s> token, which T5 appends to every input")
        }
        return TokenizerDefinition(model: model, modelIDs: modelIDs, addedTokens: added, normalizer: normalizer,
                                   preTokenizer: preTokenizer, decoder: .metaspace(replacement: "\u{2581}", prependScheme: .always),
                                   prefixIDs: [], suffixIDs: [eos])
    }

    /// What `tokenizers.Tokenizer.from_file` builds: every component as serialized.
    private static func asSerialized(_ root: JSONValue) throws(TokenizerError) -> TokenizerDefinition {
        guard let modelSpec = root["model"], modelSpec["type"]?.string == "Unigram" else {
            throw .unsupported("model", "a model of type \(root["model"]?["type"]?.string ?? "none")")
        }
        if modelSpec["byte_fallback"]?.bool == true {
            throw .unsupported("model.byte_fallback", "byte fallback")
        }
        let (pieces, scores) = try vocabulary(root, scores: .serdeJSON)
        guard let unk = modelSpec["unk_id"]?.int else {
            throw .invalid("model.unk_id", "is missing; an unknown character would have no id")
        }
        guard unk >= 0, unk < pieces.count else {
            throw .invalid("model.unk_id", "is \(unk) but the vocabulary has \(pieces.count) pieces")
        }
        let model = UnigramModel(pieces: pieces, scores: scores, unkID: Int32(unk))
        let normalizer = try root["normalizer"].flatMap { spec throws(TokenizerError) in
            spec.isNull ? nil : try Self.normalizer(spec, path: "normalizer")
        }
        let preTokenizer = try root["pre_tokenizer"].flatMap { spec throws(TokenizerError) in
            spec.isNull ? nil : try Self.preTokenizer(spec, path: "pre_tokenizer", first: true)
        }
        let decoder = try root["decoder"].map { spec throws(TokenizerError) in try Self.decoder(spec) } ?? Decoder.joinWithSpaces
        let modelIDs = Self.modelIDs(pieces)
        let added = try addedTokens(root, modelIDs: modelIDs, modelSize: pieces.count)
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        if let post = root["post_processor"], !post.isNull {
            (prefix, suffix) = try template(post)
        }
        return TokenizerDefinition(model: model, modelIDs: modelIDs, addedTokens: added, normalizer: normalizer,
                                   preTokenizer: preTokenizer, decoder: decoder, prefixIDs: prefix, suffixIDs: suffix)
    }

    // MARK: - Model

    private static func vocabulary(_ root: JSONValue, scores parsing: ScoreParsing) throws(TokenizerError) -> ([String], [Double]) {
        guard let model = root["model"] else { throw .invalid("model", "is missing") }
        if let type = model["type"]?.string, type != "Unigram" {
            throw .unsupported("model", "a \(type) model")
        }
        guard let vocab = model["vocab"]?.array, !vocab.isEmpty else {
            throw .invalid("model.vocab", "is missing or empty (expected [[piece, score], ...])")
        }
        var pieces: [String] = []
        var scores: [Double] = []
        pieces.reserveCapacity(vocab.count)
        scores.reserveCapacity(vocab.count)
        for (i, entry) in vocab.enumerated() {
            guard let pair = entry.array, pair.count == 2, let piece = pair[0].string,
                  let literal = pair[1].numberLiteral, let score = parsing.parse(literal) else {
                throw .invalid("model.vocab[\(i)]", "is not a [piece, score] pair")
            }
            pieces.append(piece)
            scores.append(score)
        }
        return (pieces, scores)
    }

    private static func modelIDs(_ pieces: [String]) -> [String: Int32] {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(pieces.count)
        for (i, piece) in pieces.enumerated() { ids[piece] = Int32(i) }
        return ids
    }

    /// Ids are assigned the way `tokenizers` does on load, not read from the file: a token
    /// already in the vocabulary keeps that id, any other gets the next id after the vocabulary.
    private static func addedTokens(_ root: JSONValue, modelIDs: [String: Int32],
                                    modelSize: Int) throws(TokenizerError) -> [AddedToken] {
        guard let list = root["added_tokens"]?.array else { return [] }
        var tokens: [AddedToken] = []
        var byContent: [String: Int] = [:]
        var nextID = Int32(modelSize)
        for (i, spec) in list.enumerated() {
            guard let content = spec["content"]?.string else {
                throw .invalid("added_tokens[\(i)]", "has no content")
            }
            for flag in ["lstrip", "rstrip", "single_word"] where spec[flag]?.bool == true {
                throw .unsupported("added_tokens[\(i)]", "\(flag)=true")
            }
            if content.isEmpty { continue }
            let token = AddedToken(content: content, id: 0, special: spec["special"]?.bool ?? false,
                                   normalized: spec["normalized"]?.bool ?? !(spec["special"]?.bool ?? false))
            if let existing = byContent[content] {
                var updated = token
                updated.id = tokens[existing].id
                tokens[existing] = updated
                continue
            }
            var assigned = token
            if let id = modelIDs[content] {
                assigned.id = id
            } else {
                assigned.id = nextID
                nextID += 1
            }
            byContent[content] = tokens.count
            tokens.append(assigned)
        }
        return tokens
    }

    // MARK: - Components

    private static func charsMap(_ spec: JSONValue, path: String) throws(TokenizerError) -> Normalizer {
        guard let encoded = spec["precompiled_charsmap"]?.string else {
            throw .invalid("\(path).precompiled_charsmap", "is missing")
        }
        guard let data = Data(base64Encoded: encoded) else {
            throw .invalid("\(path).precompiled_charsmap", "is not valid base64")
        }
        return .precompiled(try PrecompiledCharsMap([UInt8](data)))
    }

    private static func normalizer(_ spec: JSONValue, path: String) throws(TokenizerError) -> Normalizer {
        let type = spec["type"]?.string ?? "(no type)"
        switch type {
        case "Sequence":
            guard let steps = spec["normalizers"]?.array else { throw .invalid("\(path).normalizers", "is missing") }
            var parsed: [Normalizer] = []
            for (i, step) in steps.enumerated() { parsed.append(try normalizer(step, path: "\(path).normalizers[\(i)]")) }
            return .sequence(parsed)
        case "Precompiled":
            return try charsMap(spec, path: path)
        case "Replace":
            guard let content = spec["content"]?.string else { throw .invalid("\(path).content", "is missing") }
            return .replace(try replacePattern(spec["pattern"], path: "\(path).pattern"), with: Array(content.utf8))
        case "Strip":
            return .strip(left: spec["strip_left"]?.bool ?? false, right: spec["strip_right"]?.bool ?? false)
        case "Prepend":
            guard let prefix = spec["prepend"]?.string else { throw .invalid("\(path).prepend", "is missing") }
            return .prepend(Array(prefix.utf8))
        default:
            throw .unsupported(path, "a \(type) normalizer")
        }
    }

    private static func replacePattern(_ spec: JSONValue?, path: String) throws(TokenizerError) -> ReplacePattern {
        if let literal = spec?["String"]?.string { return .literal(Array(literal.utf8)) }
        if let source = spec?["Regex"]?.string {
            do {
                let regex = try Regex(source).matchingSemantics(.unicodeScalar)
                return .regex(regex, source: source)
            } catch {
                throw .unsupported(path, "the regular expression \(source), which Swift's Regex cannot compile")
            }
        }
        throw .invalid(path, "is neither {\"String\": ...} nor {\"Regex\": ...}")
    }

    /// - Parameter first: whether this pre-tokenizer sees whole segments; `tokenizers`' `first`
    ///   prepend scheme needs original offsets, which we only know before any split.
    private static func preTokenizer(_ spec: JSONValue, path: String, first: Bool) throws(TokenizerError) -> PreTokenizer {
        let type = spec["type"]?.string ?? "(no type)"
        switch type {
        case "Sequence":
            guard let steps = spec["pretokenizers"]?.array else { throw .invalid("\(path).pretokenizers", "is missing") }
            var parsed: [PreTokenizer] = []
            for (i, step) in steps.enumerated() {
                parsed.append(try preTokenizer(step, path: "\(path).pretokenizers[\(i)]", first: first && parsed.isEmpty))
            }
            return .sequence(parsed)
        case "WhitespaceSplit":
            return .whitespaceSplit
        case "Metaspace":
            let (replacement, scheme, split) = try metaspace(spec, path: path)
            if scheme == .first && !first {
                throw .unsupported(path, "prepend_scheme \"first\" after another pre-tokenizer")
            }
            return .metaspace(replacement: Array(replacement.utf8), prependScheme: scheme, split: split)
        default:
            throw .unsupported(path, "a \(type) pre-tokenizer")
        }
    }

    private static func decoder(_ spec: JSONValue) throws(TokenizerError) -> Decoder {
        if spec.isNull { return .joinWithSpaces }
        guard spec["type"]?.string == "Metaspace" else {
            throw .unsupported("decoder", "a \(spec["type"]?.string ?? "(no type)") decoder")
        }
        let (replacement, scheme, _) = try metaspace(spec, path: "decoder")
        return .metaspace(replacement: replacement, prependScheme: scheme)
    }

    /// Metaspace settings with `tokenizers`' defaults and legacy handling: `add_prefix_space`
    /// false means `never` (and conflicts with any other declared scheme), a missing scheme
    /// is `always`, a missing `split` is true.
    private static func metaspace(_ spec: JSONValue, path: String) throws(TokenizerError) -> (String, PrependScheme, Bool) {
        guard let replacement = spec["replacement"]?.string, replacement.unicodeScalars.count == 1 else {
            throw .invalid("\(path).replacement", "must be a single character")
        }
        var scheme = PrependScheme.always
        if let declared = spec["prepend_scheme"]?.string {
            switch declared {
            case "always": scheme = .always
            case "never": scheme = .never
            case "first": scheme = .first
            default: throw .invalid("\(path).prepend_scheme", "is \"\(declared)\" (expected always, never or first)")
            }
        }
        if spec["add_prefix_space"]?.bool == false {
            guard scheme == .never else {
                throw .invalid(path, "sets add_prefix_space false but prepend_scheme \(scheme)")
            }
        }
        return (replacement, scheme, spec["split"]?.bool ?? true)
    }

    private static func template(_ spec: JSONValue) throws(TokenizerError) -> ([Int32], [Int32]) {
        guard spec["type"]?.string == "TemplateProcessing" else {
            throw .unsupported("post_processor", "a \(spec["type"]?.string ?? "(no type)") post-processor")
        }
        guard let single = spec["single"]?.array else { throw .invalid("post_processor.single", "is missing") }
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        var seenSequence = false
        for (i, item) in single.enumerated() {
            if let sequence = item["Sequence"] {
                guard sequence["id"]?.string == "A", !seenSequence else {
                    throw .unsupported("post_processor.single[\(i)]", "a template other than one $A sequence")
                }
                seenSequence = true
            } else if let name = item["SpecialToken"]?["id"]?.string {
                guard let ids = spec["special_tokens"]?[name]?["ids"]?.array?.compactMap({ $0.int.map(Int32.init) }) else {
                    throw .invalid("post_processor.special_tokens", "has no ids for \(name)")
                }
                if seenSequence { suffix += ids } else { prefix += ids }
            } else {
                throw .invalid("post_processor.single[\(i)]", "is neither a Sequence nor a SpecialToken")
            }
        }
        guard seenSequence else { throw .invalid("post_processor.single", "never places the input ($A)") }
        return (prefix, suffix)
    }
}

/// The normalizers a SentencePiece tokenizer.json uses, applied to UTF-8 bytes.
indirect enum Normalizer: Sendable {
    case precompiled(PrecompiledCharsMap)
    case replace(ReplacePattern, with: [UInt8])
    case strip(left: Bool, right: Bool)
    case prepend([UInt8])
    case sequence([Normalizer])

    func normalize(_ input: ArraySlice<UInt8>) -> [UInt8] {
        var unused = true
        return normalize(input, startStaysAligned: &unused)
    }

    /// - Parameter startStaysAligned: cleared when the result's first character no longer maps
    ///   to the input's first character in `tokenizers`' offset alignments, i.e. when leading
    ///   text was stripped or replaced by nothing. Metaspace's `first` prepend scheme reads
    ///   that offset. (The charsmap never clears it: `tokenizers` aligns whatever comes first
    ///   with the first input character, even when that character was deleted.)
    func normalize(_ input: ArraySlice<UInt8>, startStaysAligned: inout Bool) -> [UInt8] {
        switch self {
        case .precompiled(let map):
            return Self.applyCharsMap(map, to: input)
        case .replace(let pattern, let content):
            if content.isEmpty && pattern.matchesAtStart(of: input) { startStaysAligned = false }
            return pattern.replaceAll(in: input, with: content)
        case .strip(let left, let right):
            if left && Self.leadingWhitespaceEnd(input) > input.startIndex { startStaysAligned = false }
            return Self.strip(input, left: left, right: right)
        case .prepend(let prefix):
            return input.isEmpty ? [] : prefix + input
        case .sequence(let steps):
            var text = Array(input)
            for step in steps { text = step.normalize(text[...], startStaysAligned: &startStaysAligned) }
            return text
        }
    }

    /// Hugging Face's Precompiled normalizer: walk extended grapheme clusters; a cluster shorter
    /// than 6 bytes is looked up whole, and otherwise (or if that finds nothing) each scalar is
    /// looked up alone. SentencePiece itself does a longest match over raw bytes instead; the
    /// two disagree on stacked accents, and we follow `tokenizers` because that is the reference.
    static func applyCharsMap(_ map: PrecompiledCharsMap, to bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i < end {
            let b = bytes[i]
            if b < 0x80 {
                // Between two ASCII characters there is always a cluster boundary except
                // inside CR LF, so an ASCII byte followed by ASCII (or the end) is a cluster of
                // its own and needs no segmentation.
                let next: UInt8? = i + 1 < end ? bytes[i + 1] : nil
                if next == nil || (next! < 0x80 && !(b == 0x0D && next == 0x0A)) {
                    if let r = map.asciiReplacement(b) { out += r } else { out.append(b) }
                    i += 1
                    continue
                }
            }
            // A stretch that may hold multi-scalar clusters ends where an ASCII pair (not CR LF)
            // guarantees a boundary; segment just that stretch with the standard library.
            var j = i + 1
            while j < end, !(bytes[j - 1] < 0x80 && bytes[j] < 0x80 && !(bytes[j - 1] == 0x0D && bytes[j] == 0x0A)) {
                j += 1
            }
            let stretch = String(decoding: bytes[i..<j], as: UTF8.self)
            var index = stretch.startIndex
            var offset = i
            while index < stretch.endIndex {
                let next = stretch.index(after: index)
                let length = stretch.utf8.distance(from: index, to: next)
                appendCluster(bytes[offset..<(offset + length)], map: map, to: &out)
                offset += length
                index = next
            }
            i = j
        }
        return out
    }

    private static func appendCluster(_ cluster: ArraySlice<UInt8>, map: PrecompiledCharsMap, to out: inout [UInt8]) {
        if cluster.count < 6, let whole = map.transform(cluster) {
            out += whole
            return
        }
        var k = cluster.startIndex
        while k < cluster.endIndex {
            let length = UTF8Scanning.scalarLength(lead: cluster[k])
            let scalar = cluster[k..<(k + length)]
            if let r = map.transform(scalar) { out += r } else { out += scalar }
            k += length
        }
    }

    static func strip(_ bytes: ArraySlice<UInt8>, left: Bool, right: Bool) -> [UInt8] {
        let start = left ? leadingWhitespaceEnd(bytes) : bytes.startIndex
        var end = bytes.endIndex
        if right {
            while end > start {
                var lead = end - 1
                while bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
                guard UTF8Scanning.isWhitespace(UTF8Scanning.scalar(bytes, at: lead).value) else { break }
                end = lead
            }
        }
        return Array(bytes[start..<end])
    }

    private static func leadingWhitespaceEnd(_ bytes: ArraySlice<UInt8>) -> Int {
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let (scalar, length) = UTF8Scanning.scalar(bytes, at: start)
            guard UTF8Scanning.isWhitespace(scalar) else { break }
            start += length
        }
        return start
    }
}

/// The pattern of a Replace normalizer: a literal string or a regular expression.
enum ReplacePattern: @unchecked Sendable {
    case literal([UInt8])
    /// `tokenizers` uses Oniguruma; Swift's Regex agrees on the simple patterns tokenizer.json
    /// files carry (runs of spaces and the like), matched over Unicode scalars as Rust does.
    case regex(Regex<AnyRegexOutput>, source: String)

    func matchesAtStart(of input: ArraySlice<UInt8>) -> Bool {
        switch self {
        case .literal(let needle):
            return !needle.isEmpty && input.starts(with: needle)
        case .regex(let regex, _):
            let text = String(decoding: input, as: UTF8.self)
            guard let match = text.firstMatch(of: regex) else { return false }
            return match.range.lowerBound == text.startIndex && !match.range.isEmpty
        }
    }

    func replaceAll(in input: ArraySlice<UInt8>, with content: [UInt8]) -> [UInt8] {
        switch self {
        case .literal(let needle):
            guard !needle.isEmpty, input.count >= needle.count else { return Array(input) }
            var out: [UInt8] = []
            out.reserveCapacity(input.count)
            var i = input.startIndex
            while i < input.endIndex {
                if i + needle.count <= input.endIndex, input[i..<(i + needle.count)].elementsEqual(needle) {
                    out += content
                    i += needle.count
                } else {
                    out.append(input[i])
                    i += 1
                }
            }
            return out
        case .regex(let regex, _):
            let text = String(decoding: input, as: UTF8.self)
            let replacement = String(decoding: content, as: UTF8.self)
            return Array(text.replacing(regex, with: replacement).utf8)
        }
    }
}

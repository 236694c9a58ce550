/// The Porter stemmer exactly as NLTK's `PorterStemmer()` (mode NLTK_EXTENSIONS) stems, which is
/// what rouge_score uses with `use_stemmer=True`. NLTK departs from Porter's paper in several
/// places (irregular forms, "ies"/"ied" on four-letter words, the y -> i rule, "alli", "fulli",
/// "logi", a two-letter *o); scores only match rouge_score if every one of those is reproduced.
///
/// Words are handled as Unicode scalars because Python indexes strings by code point: a stem for
/// a non-ASCII word is then still NLTK's (every non-vowel letter is a consonant to Porter).
public struct PorterStemmer: Sendable {
    typealias Word = [Unicode.Scalar]

    public init() {}

    /// NLTK lowercases first (Python's `str.lower`, which Swift's full Unicode lowercasing
    /// matches apart from the context-dependent final sigma, irrelevant to Porter's rules).
    public func stem(_ word: String) -> String {
        let lowered = Array(word.lowercased().unicodeScalars)
        var out = String.UnicodeScalarView()
        out.append(contentsOf: stem(lowered, originalLength: word.unicodeScalars.count))
        return String(out)
    }

    /// `word` must already be lowercase. NLTK tests the original word's length, before
    /// lowercasing, against its two-letter cut-off; for ASCII the two are the same.
    func stem(_ word: Word, originalLength: Int) -> Word {
        if let irregular = Self.irregularForms[word] { return irregular }
        if originalLength <= 2 { return word }
        var w = step1a(word)
        w = step1b(w)
        w = step1c(w)
        w = step2(w)
        w = step3(w)
        w = step4(w)
        w = step5a(w)
        return step5b(w)
    }

    /// NLTK's table of forms "drawn to Martin Porter's attention over a 20 year period", looked
    /// up before any rule runs.
    static let irregularForms: [Word: Word] = {
        let groups: [(String, [String])] = [
            ("sky", ["sky", "skies"]), ("die", ["dying"]), ("lie", ["lying"]), ("tie", ["tying"]),
            ("news", ["news"]), ("inning", ["innings", "inning"]), ("outing", ["outings", "outing"]),
            ("canning", ["cannings", "canning"]), ("howe", ["howe"]), ("proceed", ["proceed"]),
            ("exceed", ["exceed"]), ("succeed", ["succeed"]),
        ]
        var table: [Word: Word] = [:]
        for (stem, forms) in groups {
            for form in forms { table[Array(form.unicodeScalars)] = Array(stem.unicodeScalars) }
        }
        return table
    }()
}

// MARK: - Letter classes and measures (on a prefix, to avoid copying the word)

extension PorterStemmer {
    static func isVowelLetter(_ c: Unicode.Scalar) -> Bool {
        c == "a" || c == "e" || c == "i" || c == "o" || c == "u"
    }

    /// Porter's consonant: not a, e, i, o, u, and not a "y" after a consonant. A run of y's
    /// alternates, so it is resolved by counting back over the run instead of recursing (a long
    /// "yyyy..." token must not exhaust the stack).
    static func isConsonant(_ w: Word, _ index: Int) -> Bool {
        if isVowelLetter(w[index]) { return false }
        guard w[index] == "y" else { return true }
        var i = index
        var flipped = false
        while i > 0 && w[i] == "y" {
            flipped.toggle()
            i -= 1
        }
        return !isVowelLetter(w[i]) != flipped
    }

    /// Porter's m, the number of vowel-run-then-consonant-run pairs, of `w[0..<length]`.
    static func measure(_ w: Word, length: Int) -> Int {
        var m = 0
        var previousConsonant = false
        var previousWasVowel = false
        for i in 0..<length {
            let c = w[i]
            let consonant: Bool
            if isVowelLetter(c) {
                consonant = false
            } else if c == "y" {
                consonant = i == 0 ? true : !previousConsonant
            } else {
                consonant = true
            }
            if consonant && previousWasVowel { m += 1 }
            previousWasVowel = !consonant
            previousConsonant = consonant
        }
        return m
    }

    static func measure(_ w: Word) -> Int { measure(w, length: w.count) }

    /// Porter's *v*: the stem contains a vowel.
    static func containsVowel(_ w: Word, length: Int) -> Bool {
        var previousConsonant = false
        for i in 0..<length {
            let c = w[i]
            let consonant = isVowelLetter(c) ? false : (c == "y" ? (i == 0 || !previousConsonant) : true)
            if !consonant { return true }
            previousConsonant = consonant
        }
        return false
    }

    /// Porter's *d: ends with a double consonant.
    static func endsDoubleConsonant(_ w: Word) -> Bool {
        let n = w.count
        return n >= 2 && w[n - 1] == w[n - 2] && isConsonant(w, n - 1)
    }

    /// Porter's *o (consonant-vowel-consonant, the last not w, x or y), plus NLTK's extension
    /// that a two-letter vowel-consonant stem also counts, so short words keep or regain their
    /// "e" ("ace" stays "ace", "oping" -> "ope").
    static func endsCVC(_ w: Word) -> Bool {
        let n = w.count
        if n >= 3 && isConsonant(w, n - 3) && !isConsonant(w, n - 2) && isConsonant(w, n - 1)
            && w[n - 1] != "w" && w[n - 1] != "x" && w[n - 1] != "y" {
            return true
        }
        return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
    }

    static func hasSuffix(_ w: Word, _ suffix: Word) -> Bool {
        guard w.count >= suffix.count else { return false }
        return w[(w.count - suffix.count)...].elementsEqual(suffix)
    }

    /// `w` without its last `count` letters, followed by `replacement`.
    static func replacing(_ w: Word, last count: Int, with replacement: Word) -> Word {
        var out = Word(w[..<(w.count - count)])
        out.append(contentsOf: replacement)
        return out
    }
}

// MARK: - Rule lists

extension PorterStemmer {
    /// When a rule's suffix matches, its condition (on the word without the suffix) decides; a
    /// failed condition ends the list, as in NLTK's `_apply_rule_list`.
    enum Condition {
        case always
        case positiveMeasure
        case measureAbove1
        /// Step 4's ION: m > 1 and the stem ends in "s" or "t".
        case measureAbove1EndingSOrT
        /// NLTK's "logi" -> "log" tests the word minus "ogi", i.e. the stem with the "l" kept.
        case positiveMeasureKeepingL
        /// Step 5b's "ll" -> "l" tests the word minus one "l".
        case measureAbove1KeepingL
    }

    struct Rule {
        let suffix: Word
        let replacement: Word
        let condition: Condition

        init(_ suffix: String, _ replacement: String, _ condition: Condition) {
            self.suffix = Array(suffix.unicodeScalars)
            self.replacement = Array(replacement.unicodeScalars)
            self.condition = condition
        }
    }

    static func holds(_ condition: Condition, stemOf w: Word, length: Int) -> Bool {
        switch condition {
        case .always:
            return true
        case .positiveMeasure:
            return measure(w, length: length) > 0
        case .measureAbove1:
            return measure(w, length: length) > 1
        case .measureAbove1EndingSOrT:
            return measure(w, length: length) > 1 && (w[length - 1] == "s" || w[length - 1] == "t")
        case .positiveMeasureKeepingL:
            return measure(w, length: length + 1) > 0
        case .measureAbove1KeepingL:
            return measure(w, length: length + 1) > 1
        }
    }

    static func apply(_ rules: [Rule], to w: Word) -> Word {
        for rule in rules where hasSuffix(w, rule.suffix) {
            let stemLength = w.count - rule.suffix.count
            return holds(rule.condition, stemOf: w, length: stemLength)
                ? replacing(w, last: rule.suffix.count, with: rule.replacement)
                : w
        }
        return w
    }

    static let step1aRules = [
        Rule("sses", "ss", .always), Rule("ies", "i", .always), Rule("ss", "ss", .always), Rule("s", "", .always),
    ]

    /// The published list with "bli" -> "ble" (Porter's later correction of "abli") and NLTK's
    /// "fulli" and "logi" appended.
    static let step2Rules = [
        Rule("ational", "ate", .positiveMeasure), Rule("tional", "tion", .positiveMeasure),
        Rule("enci", "ence", .positiveMeasure), Rule("anci", "ance", .positiveMeasure),
        Rule("izer", "ize", .positiveMeasure), Rule("bli", "ble", .positiveMeasure),
        Rule("alli", "al", .positiveMeasure), Rule("entli", "ent", .positiveMeasure),
        Rule("eli", "e", .positiveMeasure), Rule("ousli", "ous", .positiveMeasure),
        Rule("ization", "ize", .positiveMeasure), Rule("ation", "ate", .positiveMeasure),
        Rule("ator", "ate", .positiveMeasure), Rule("alism", "al", .positiveMeasure),
        Rule("iveness", "ive", .positiveMeasure), Rule("fulness", "ful", .positiveMeasure),
        Rule("ousness", "ous", .positiveMeasure), Rule("aliti", "al", .positiveMeasure),
        Rule("iviti", "ive", .positiveMeasure), Rule("biliti", "ble", .positiveMeasure),
        Rule("fulli", "ful", .positiveMeasure), Rule("logi", "log", .positiveMeasureKeepingL),
    ]

    static let step3Rules = [
        Rule("icate", "ic", .positiveMeasure), Rule("ative", "", .positiveMeasure),
        Rule("alize", "al", .positiveMeasure), Rule("iciti", "ic", .positiveMeasure),
        Rule("ical", "ic", .positiveMeasure), Rule("ful", "", .positiveMeasure),
        Rule("ness", "", .positiveMeasure),
    ]

    static let step4Rules = [
        Rule("al", "", .measureAbove1), Rule("ance", "", .measureAbove1), Rule("ence", "", .measureAbove1),
        Rule("er", "", .measureAbove1), Rule("ic", "", .measureAbove1), Rule("able", "", .measureAbove1),
        Rule("ible", "", .measureAbove1), Rule("ant", "", .measureAbove1), Rule("ement", "", .measureAbove1),
        Rule("ment", "", .measureAbove1), Rule("ent", "", .measureAbove1),
        Rule("ion", "", .measureAbove1EndingSOrT), Rule("ou", "", .measureAbove1),
        Rule("ism", "", .measureAbove1), Rule("ate", "", .measureAbove1), Rule("iti", "", .measureAbove1),
        Rule("ous", "", .measureAbove1), Rule("ive", "", .measureAbove1), Rule("ize", "", .measureAbove1),
    ]

    static let step5bRules = [Rule("ll", "l", .measureAbove1KeepingL)]

    static let ies: Word = ["i", "e", "s"]
    static let ied: Word = ["i", "e", "d"]
    static let eed: Word = ["e", "e", "d"]
    static let ed: Word = ["e", "d"]
    static let ing: Word = ["i", "n", "g"]
    static let alli: Word = ["a", "l", "l", "i"]
    static let y: Word = ["y"]
    static let e: Word = ["e"]
    static let step1bRestorations: [(Word, Word)] = [(["a", "t"], ["a", "t", "e"]),
                                                     (["b", "l"], ["b", "l", "e"]),
                                                     (["i", "z"], ["i", "z", "e"])]
}

// MARK: - Steps

extension PorterStemmer {
    /// Plurals. NLTK maps a four-letter "-ies" to "-ie" ("dies" -> "die", but "flies" -> "fli").
    func step1a(_ w: Word) -> Word {
        if Self.hasSuffix(w, Self.ies) && w.count == 4 { return Self.replacing(w, last: 3, with: ["i", "e"]) }
        return Self.apply(Self.step1aRules, to: w)
    }

    /// Past tenses and gerunds, then the clean-up that puts back an "e" or undoubles a consonant.
    func step1b(_ w: Word) -> Word {
        // NLTK: "died" -> "die" but "spied" -> "spi".
        if Self.hasSuffix(w, Self.ied) {
            return Self.replacing(w, last: 3, with: w.count == 4 ? ["i", "e"] : ["i"])
        }
        if Self.hasSuffix(w, Self.eed) {
            return Self.measure(w, length: w.count - 3) > 0 ? Self.replacing(w, last: 1, with: []) : w
        }
        var stem: Word? = nil
        for suffix in [Self.ed, Self.ing] where Self.hasSuffix(w, suffix) {
            if Self.containsVowel(w, length: w.count - suffix.count) {
                stem = Word(w[..<(w.count - suffix.count)])
                break
            }
        }
        guard let stem else { return w }

        for (suffix, replacement) in Self.step1bRestorations where Self.hasSuffix(stem, suffix) {
            return Self.replacing(stem, last: suffix.count, with: replacement)
        }
        if Self.endsDoubleConsonant(stem) {
            let last = stem[stem.count - 1]
            return last == "l" || last == "s" || last == "z" ? stem : Word(stem.dropLast())
        }
        if Self.measure(stem) == 1 && Self.endsCVC(stem) { return stem + Self.e }
        return stem
    }

    /// NLTK's y -> i: only after a consonant that is not the whole stem ("happy" -> "happi",
    /// "enjoy" and "by" unchanged, "cry" -> "cri").
    func step1c(_ w: Word) -> Word {
        guard Self.hasSuffix(w, Self.y) else { return w }
        let stemLength = w.count - 1
        return stemLength > 1 && Self.isConsonant(w, stemLength - 1) ? Self.replacing(w, last: 1, with: ["i"]) : w
    }

    /// NLTK tries "alli" -> "al" before the list and, when it applies, runs step 2 again on the
    /// result (so "conditionalli" -> "conditional" -> "condition" within this step).
    func step2(_ w: Word) -> Word {
        if Self.hasSuffix(w, Self.alli) && Self.measure(w, length: w.count - 4) > 0 {
            return step2(Self.replacing(w, last: 4, with: ["a", "l"]))
        }
        return Self.apply(Self.step2Rules, to: w)
    }

    func step3(_ w: Word) -> Word { Self.apply(Self.step3Rules, to: w) }

    func step4(_ w: Word) -> Word { Self.apply(Self.step4Rules, to: w) }

    /// Both E rules are tried (not first-match like the other lists): the paper's examples
    /// ("cease" -> "ceas") need the second when the first's condition fails.
    func step5a(_ w: Word) -> Word {
        guard Self.hasSuffix(w, Self.e) else { return w }
        let stem = Word(w.dropLast())
        let m = Self.measure(stem)
        if m > 1 || (m == 1 && !Self.endsCVC(stem)) { return stem }
        return w
    }

    func step5b(_ w: Word) -> Word { Self.apply(Self.step5bRules, to: w) }
}

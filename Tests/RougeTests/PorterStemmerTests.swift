import Foundation
import Testing
import Rouge

/// NLTK's PorterStemmer (NLTK_EXTENSIONS) stems, word for word: every distinct DialogSum token
/// longer than 3 characters, the words of the stemmer's documentation and special cases, and
/// generated base + suffix words reaching every rule.
struct PorterStemmerTests {
    @Test func everyWordStemsLikeNLTK() throws {
        let fixture = try ReferenceFixtures.load("stems.json", as: ReferenceFixtures.Stems.self)
        try #require(fixture.mode == "NLTK_EXTENSIONS")
        try #require(fixture.dialogsumWords > 5000 && fixture.stems.count > fixture.dialogsumWords)
        let stemmer = PorterStemmer()
        var failures: [String] = []
        for (word, expected) in fixture.stems.sorted(by: { $0.key < $1.key }) {
            let stem = stemmer.stem(word)
            if stem != expected { failures.append("\(word) -> \(stem), NLTK \(expected)") }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(fixture.stems.count) words: \(failures.prefix(20).joined(separator: ", "))")
    }

    /// The irregular forms are looked up before any rule; "sky" and "news" would otherwise lose
    /// letters, and "dying" would become "dy".
    @Test(arguments: [("dying", "die"), ("lying", "lie"), ("tying", "tie"), ("skies", "sky"), ("sky", "sky"),
                      ("news", "news"), ("innings", "inning"), ("outings", "outing"), ("cannings", "canning"),
                      ("howe", "howe"), ("proceed", "proceed"), ("exceed", "exceed"), ("succeed", "succeed")])
    func irregularForms(word: String, stem: String) {
        #expect(PorterStemmer().stem(word) == stem)
    }

    /// NLTK lowercases before stemming.
    @Test func uppercaseInputIsLowercased() {
        #expect(PorterStemmer().stem("Running") == "run")
        #expect(PorterStemmer().stem("SKIES") == "sky")
    }

    /// A run of y's alternates consonant/vowel; resolving it must not recurse once per letter,
    /// or a pathological token would overflow the stack.
    /// Expected stems from NLTK: the last y is a consonant (so becomes "i") only when the run
    /// has even length.
    @Test func longRunOfYDoesNotExhaustTheStack() {
        let even = String(repeating: "y", count: 200_000)
        #expect(PorterStemmer().stem(even + "s") == String(even.dropLast()) + "i")
        let odd = String(repeating: "y", count: 199_999)
        #expect(PorterStemmer().stem(odd + "s") == odd)
    }
}

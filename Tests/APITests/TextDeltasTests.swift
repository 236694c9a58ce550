import Testing
@testable import API

/// The delta rules on a toy SentencePiece-like decoder (pieces joined, "▁" a space except
/// leading, transformers' " ." cleanup), where decoding a prefix of the tokens is not always a
/// prefix of the final text.
@Suite struct TextDeltasTests {
    static let pieces = ["▁Hello", "▁", ".", "▁wor", "ld", "▁sto", "p", "!", "▁é", "\u{301}", "▁end"]
    static func decode(_ ids: [Int32]) -> String {
        let joined = ids.map { pieces[Int($0)] }.joined().replacingOccurrences(of: "▁", with: " ")
        return String(joined.drop { $0 == " " }).replacingOccurrences(of: " .", with: ".")
    }

    /// Feeds tokens one at a time; every delta must extend what was sent, and the joined deltas
    /// must equal the final text.
    func run(_ ids: [Int32], stops: [String] = []) -> (deltas: [String], joined: String, stopped: Bool) {
        var d = TextDeltas(stops: stops, decode: Self.decode)
        var deltas: [String] = []
        for id in ids { deltas.append(d.append([id])) }
        deltas.append(d.finish(final: Self.decode(ids)))
        return (deltas, deltas.joined(), d.stopped)
    }

    @Test func trailingSpaceIsHeldBackUntilCleanupIsKnown() {
        // "Hello" then "Hello " (held) then "Hello." : the space is never sent.
        let r = run([0, 1, 2, 3, 4])
        #expect(r.joined == "Hello. world")
        #expect(r.deltas[0] == "Hello" && r.deltas[1] == "" && r.deltas[2] == ".")
    }

    @Test func combiningMarksJoinOnBytes() {
        let r = run([8, 9, 10])
        #expect(r.joined == Self.decode([8, 9, 10]))
    }

    @Test func stopSequencesCutAndPrefixesWait() {
        // "Hello sto" could be the start of " stop": held back; then "Hello stop" is cut.
        let r = run([0, 5, 6, 7, 10], stops: [" stop"])
        #expect(r.joined == "Hello" && r.stopped)
        #expect(r.deltas == ["Hello", "", "", "", "", ""])
        // A prefix that turns out not to be a stop is sent once it cannot be one.
        let s = run([0, 5, 7], stops: [" stop"])
        #expect(s.joined == "Hello sto!" && !s.stopped)
        #expect(s.deltas == ["Hello", "", " sto!", ""])
    }

    @Test func finishAppliesTheStopToTheFinalText() {
        var d = TextDeltas(stops: ["wor"], decode: Self.decode)
        #expect(d.finish(final: "Hello world") == "Hello ")
        #expect(d.stopped)
    }
}

import Foundation

/// Turns a growing sequence of generated tokens into text deltas whose concatenation is
/// exactly the final text (the non-streamed answer for the same request).
///
/// SentencePiece pieces are not text on their own (a piece's leading "▁" becomes a space only
/// between words), so every step decodes the whole sequence and emits what is new past the
/// text already sent. Text that a later token could still change is held back: trailing
/// whitespace (the decoder or a cleanup rule may drop it), a trailing U+FFFD (an incomplete
/// byte sequence), and a tail that could be the start of a stop sequence. Comparisons are on
/// UTF-8 bytes, so a combining mark arriving later cannot shift character counts.
struct TextDeltas {
    let decode: ([Int32]) -> String
    let stops: [String]
    private(set) var tokens: [Int32] = []
    /// Bytes of the text sent so far.
    private(set) var sent: [UInt8] = []
    /// A stop sequence appeared: the text is final, later tokens are ignored.
    private(set) var stopped = false

    init(stops: [String] = [], decode: @escaping ([Int32]) -> String) {
        self.stops = stops
        self.decode = decode
    }

    /// The text sent so far.
    var text: String { String(decoding: sent, as: UTF8.self) }

    /// Adds a step's tokens; returns the text that can be sent now (maybe empty).
    mutating func append(_ new: [Int32]) -> String {
        guard !stopped else { return "" }
        tokens += new
        let full = decode(tokens)
        if let cut = stops.compactMap({ full.range(of: $0)?.lowerBound }).min() {
            stopped = true
            return advance(to: Array(full[..<cut].utf8))
        }
        return advance(to: Array(full.utf8.dropLast(heldBack(full))))
    }

    /// The rest of the text once generation ended: `final` is the whole decoded output (the
    /// non-streamed text), cut at a stop sequence the same way.
    mutating func finish(final: String) -> String {
        guard !stopped else { return "" }
        var target = final
        if let cut = stops.compactMap({ final.range(of: $0)?.lowerBound }).min() {
            stopped = true
            target = String(final[..<cut])
        }
        return advance(to: Array(target.utf8))
    }

    /// Sends the part of `target` past what was sent, if what was sent is still its prefix
    /// (it always is for a prefix-stable decoder; otherwise nothing is sent until it is).
    private mutating func advance(to target: [UInt8]) -> String {
        guard target.count > sent.count, target.starts(with: sent) else { return "" }
        let delta = target[sent.count...]
        sent = target
        return String(decoding: delta, as: UTF8.self)
    }

    /// UTF-8 bytes at the end of `full` that a later token could still change.
    private func heldBack(_ full: String) -> Int {
        var held = 0
        for scalar in full.unicodeScalars.reversed() {
            guard scalar.properties.isWhitespace || scalar == "\u{FFFD}" else { break }
            held += String(scalar).utf8.count
        }
        let rest = full.utf8.dropLast(held)
        var stopHold = 0
        for stop in stops {
            let s = Array(stop.utf8)
            for k in stride(from: s.count - 1, to: 0, by: -1) where k > stopHold && rest.reversed().starts(with: s[..<k].reversed()) {
                stopHold = k
                break
            }
        }
        return held + stopHold
    }
}

import Foundation
import Testing
import Tokenization

/// Encoding sits on the request path. The bound is loose enough for a debug build on a busy
/// 2-core machine, but an accidentally quadratic step (re-slicing strings, rescanning the
/// text per word) blows through it on a long input.
@Suite
struct EncodeSpeedTests {
    @Test func longDialoguesEncodeInLinearTime() throws {
        let t = try SharedTokenizers.transformers()
        let dialogues = try DialogSumParityTests.dialogues().values.sorted()
        let text = try #require(dialogues.max { $0.utf8.count < $1.utf8.count })
        // About 2,000 characters, the size of a typical lab prompt.
        let typical = String(text.prefix(2000))
        let huge = String(repeating: text + "\n", count: 40)

        let clock = ContinuousClock()
        _ = t.encode(typical)
        let rounds = 50
        let typicalTime = clock.measure { for _ in 0..<rounds { _ = t.encode(typical) } } / rounds
        let hugeTime = clock.measure { _ = t.encode(huge) }
        let perCharTypical = typicalTime / typical.count
        let perCharHuge = hugeTime / huge.count
        print("encode: \(typical.count) chars in \(typicalTime), \(huge.count) chars in \(hugeTime)")
        #expect(typicalTime < .milliseconds(20))
        #expect(perCharHuge < perCharTypical * 4, "cost per character grows with input length")
    }
}

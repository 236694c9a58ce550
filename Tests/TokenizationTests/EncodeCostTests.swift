import Foundation
import Testing
import Tokenization

/// Encoding sits on the request path, so its cost must grow linearly with the input. The
/// tokenizer counts its elementary steps (bytes normalized and pre-tokenized, lattice cells,
/// trie edges); an accidentally quadratic step (re-slicing strings, rescanning the text or
/// clearing a text-sized lattice per word) multiplies the steps per character on a long input.
/// Counting, unlike timing, gives the same answer on any machine.
@Suite
struct EncodeCostTests {
    @Test func longDialoguesEncodeInLinearWork() throws {
        let t = try SharedTokenizers.transformers()
        let dialogues = try DialogSumParityTests.dialogues().values.sorted()
        let text = try #require(dialogues.max { $0.utf8.count < $1.utf8.count })
        // About 2,000 characters, the size of a typical lab prompt, against 40 times the
        // longest dialogue (~100,000 characters).
        let typical = String(text.prefix(2000))
        let huge = String(repeating: text + "\n", count: 40)

        let small = t.encodeCountingSteps(typical)
        let large = t.encodeCountingSteps(huge)
        #expect(small.ids == t.encode(typical), "counting must not change the ids")
        let perByteTypical = Double(small.steps) / Double(typical.utf8.count)
        let perByteHuge = Double(large.steps) / Double(huge.utf8.count)
        // Linear work gives about the same steps per byte at both sizes (the pieces differ a
        // little); quadratic work would give about 50 times as many on the long input.
        #expect(perByteTypical > 1, "the counter must count something")
        #expect(perByteHuge < perByteTypical * 1.5,
                "steps per byte grew from \(perByteTypical) to \(perByteHuge) on a 50x longer input")
    }
}

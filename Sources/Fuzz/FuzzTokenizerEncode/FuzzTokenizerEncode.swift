import Foundation
import FuzzSupport
import Tokenization

/// Arbitrary text (invalid UTF-8 becomes U+FFFD, as for a request body) through the real
/// FLAN-T5-base tokenizer, and back.
@main enum FuzzTokenizerEncode {
    static func main() {
        let directory = FuzzTarget.repositoryRoot().appendingPathComponent("assets/flan-t5-base")
        let tokenizer: T5Tokenizer
        do { tokenizer = try T5Tokenizer(directory: directory) } catch {
            fatalError("cannot load the committed tokenizer: \(error.message)")
        }
        FuzzTarget.run { data in
            let ids = tokenizer.encode(String(decoding: data, as: UTF8.self))
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
        }
    }
}

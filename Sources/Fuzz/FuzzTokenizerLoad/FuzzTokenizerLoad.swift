import FuzzSupport
import Tokenization

/// Untrusted bytes as `tokenizer.json`; whatever loads must also encode and decode.
@main enum FuzzTokenizerLoad {
    static func main() {
        FuzzTarget.run { data in
            guard let tokenizer = try? T5Tokenizer(tokenizerJSON: data) else { return }
            let ids = tokenizer.encode("Summarize: #Person1#: Hi! ab é </s> <pad>\u{0}z")
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
        }
    }
}

import Foundation
import Tokenization

/// Loading FLAN-T5's tokenizer.json (32,100 pieces and a 230 KB charsmap) takes a noticeable
/// fraction of a second, so suites share one instance per pipeline.
enum SharedTokenizers {
    private static let transformersPipeline = Result { () throws(TokenizerError) -> T5Tokenizer in
        try T5Tokenizer(directory: FixturePaths.flanT5)
    }
    private static let tokenizerJSONPipeline = Result { () throws(TokenizerError) -> T5Tokenizer in
        try T5Tokenizer(directory: FixturePaths.flanT5, pipeline: .tokenizerJSON)
    }

    static func transformers() throws -> T5Tokenizer { try transformersPipeline.get() }
    static func tokenizerJSON() throws -> T5Tokenizer { try tokenizerJSONPipeline.get() }

    static func flanTokenizerJSON() throws -> Data {
        try Data(contentsOf: FixturePaths.flanT5.appendingPathComponent("tokenizer.json"))
    }
}

import Foundation
import Numerics
import Adapters
import Serving
import T5
import Tokenization

/// A model, tokenizer and engine loaded in-process for the offline commands (eval, bench).
struct LocalEngine {
    let model: T5ForConditionalGeneration
    let tokenizer: T5Tokenizer?
    let engine: InferenceEngine

    init(model dir: String, tokenizer tokDir: String? = nil, needTokenizer: Bool, maxBatch: Int = 64,
         weights: WeightFormat = .fp32) throws {
        model = try CLIError.wrap { try T5ForConditionalGeneration(directory: URL(fileURLWithPath: dir), weightFormat: weights) }
        if needTokenizer {
            tokenizer = try CLIError.wrap { try T5Tokenizer(directory: URL(fileURLWithPath: tokDir ?? dir)) }
        } else {
            tokenizer = try? T5Tokenizer(directory: URL(fileURLWithPath: tokDir ?? dir))
        }
        engine = InferenceEngine(model: model, maxBatch: maxBatch, maxQueue: 100_000)
        engine.start()
    }

    func loadAdapter(name: String, directory: String) throws -> ResolvedAdapter {
        let a = try CLIError.wrap { try PEFTAdapter.load(directory: URL(fileURLWithPath: directory), base: model) }
        return ResolvedAdapter(name: name, kind: a.info.kind.rawValue, sha256: a.info.sha256, weights: a.weights)
    }
}

/// A one-line progress bar on stderr, only when stderr is a terminal.
struct ProgressBar {
    let enabled = isatty(STDERR_FILENO) != 0
    func update(_ done: Int, _ total: Int, label: String) {
        guard enabled, total > 0 else { return }
        let width = 30, filled = done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

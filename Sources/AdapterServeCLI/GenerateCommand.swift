import ArgumentParser
import Foundation
import Adapters
import T5
import Numerics
import Tokenization

/// `generate`: one input through the model, as transformers' generate would do it. Its JSON
/// output is a contract other tools rely on: {"summary", "input_ids", "token_ids"}.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate",
        abstract: "Generate from TEXT (the exact encoder input; </s> is appended).")

    @Option(help: "Hugging Face model directory (config.json, model.safetensors, tokenizer.json).") var model: String
    @Option(help: "Directory with tokenizer.json, if not the model directory.") var tokenizer: String?
    @Option(help: "The exact encoder input text.") var text: String
    @Option(name: .customLong("adapter"), help: "PEFT adapter directory; repeat to stack a LoRA and a soft prompt.") var adapters: [String] = []
    @Option(help: "Maximum new tokens.") var maxNewTokens = 64
    @Option(help: "Minimum new tokens before EOS is allowed.") var minNewTokens = 0
    @Option(help: "Beam search width (1 = greedy).") var numBeams = 1
    @Option(help: "Beam length penalty.") var lengthPenalty: Float = 1
    @Flag(help: "Beam search stops as soon as num_beams hypotheses are finished.") var earlyStopping = false
    @Option(help: "Repetition penalty (1 = off).") var repetitionPenalty: Float = 1
    @Option(help: "Ban repeating n-grams of this size (0 = off).") var noRepeatNgramSize = 0
    @Flag(help: "Sample instead of greedy/beam.") var doSample = false
    @Option(help: "Sampling temperature.") var temperature: Float = 1
    @Option(help: "Sampling top-k (0 = off).") var topK = 50
    @Option(help: "Sampling top-p.") var topP: Float = 1
    @Option(help: "Sampling seed.") var seed: UInt64?
    @Option(help: "How the base's weights are held: fp32 (token-exact), bf16, int8 or nf4 (QLoRA's 4-bit NormalFloat).")
    var weights: WeightFormat = .fp32
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let modelDir = URL(fileURLWithPath: model)
        let tok = try CLIError.wrap { try T5Tokenizer(directory: URL(fileURLWithPath: tokenizer ?? model)) }
        let base = try CLIError.wrap { try T5ForConditionalGeneration(directory: modelDir, weightFormat: weights) }
        let parts = try adapters.map { dir in try CLIError.wrap { try PEFTAdapter.load(directory: URL(fileURLWithPath: dir), base: base) } }
        // The server's rule (AdapterServeService.resolve): one weight adapter and one prompt or
        // prefix at most, so two LoRAs on the same module are an error, not a crash.
        if parts.filter({ $0.info.kind.changesWeights }).count > 1 || parts.filter({ !$0.info.kind.changesWeights }).count > 1 {
            throw ValidationError("--adapter can stack at most one weight adapter (LoRA, DoRA, AdaLoRA or IA3) and one soft prompt or prefix; to combine LoRAs, write one with `adapter-serve merge --combination`")
        }
        var p = GenerationParameters()
        p.maxNewTokens = maxNewTokens; p.minNewTokens = minNewTokens; p.numBeams = numBeams
        p.lengthPenalty = lengthPenalty; p.earlyStopping = earlyStopping ? .always : .heuristic
        p.repetitionPenalty = repetitionPenalty; p.noRepeatNgramSize = noRepeatNgramSize
        p.doSample = doSample; p.temperature = temperature; p.topK = topK; p.topP = topP; p.seed = seed
        let problems = p.problems()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
        let ids = tok.encode(text)
        let output = base.generate([GenerationRequest(ids: ids, adapter: AdapterWeights.combine(parts.map(\.weights)), parameters: p)])[0]
        let summary = tok.decode(output)
        if json {
            try printJSON(["summary": summary, "input_ids": ids.map(Int.init), "token_ids": output.map(Int.init)])
        } else {
            print(summary)
        }
    }
}

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize",
        abstract: "Token ids of TEXT (with </s>), using only the tokenizer files in DIR.")
    @Option(help: "Directory with tokenizer.json.") var model: String
    @Option(help: "Text to tokenize.") var text: String
    @Flag(help: "Print {\"ids\": [...]}.") var json = false

    func run() throws {
        let tok = try CLIError.wrap { try T5Tokenizer(directory: URL(fileURLWithPath: model)) }
        let ids = tok.encode(text).map(Int.init)
        if json { try printJSON(["ids": ids]) } else { print(ids.map(String.init).joined(separator: " ")) }
    }
}

struct MakeRandomModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "make-random-model",
        abstract: "Write a random checkpoint with a config's shapes (for benchmarks).")
    @Option(help: "config.json to take the shapes from.") var config: String
    @Option(help: "Output directory.") var out: String
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Store weights as BF16 instead of F32.") var bf16 = false

    func run() throws {
        let configURL = URL(fileURLWithPath: config)
        let c = try CLIError.wrap { try T5Config.parse(Data(contentsOf: configURL), source: config) }
        let outURL = URL(fileURLWithPath: out)
        try RandomCheckpoint.write(config: c, to: outURL, seed: seed, bf16: bf16)
        let fm = FileManager.default
        try? fm.removeItem(at: outURL.appendingPathComponent("config.json"))
        try fm.copyItem(at: configURL, to: outURL.appendingPathComponent("config.json"))
        // Tokenizer files beside the config come along, so the output is a complete model directory.
        for file in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model", "generation_config.json"] {
            let src = configURL.deletingLastPathComponent().appendingPathComponent(file)
            let dst = outURL.appendingPathComponent(file)
            if fm.fileExists(atPath: src.path) && !fm.fileExists(atPath: dst.path) { try fm.copyItem(at: src, to: dst) }
        }
        print("wrote random \(c.numLayers)+\(c.numDecoderLayers)-layer d_model \(c.dModel) checkpoint to \(out)")
    }
}

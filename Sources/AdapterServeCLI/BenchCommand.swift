import ArgumentParser
import Foundation
import Numerics
import Serving
import T5

/// `bench`: a fixed workload in-process with the model already loaded: B concurrent requests
/// (adapters assigned round-robin), exactly N new tokens each (EOS ignored).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure latency and throughput in-process.")

    @Option(help: "Model directory.") var model: String
    @OptionGroup var input: EncoderInputOptions
    @Option(help: "New tokens per request (exactly; EOS ignored).") var newTokens: Int
    @Option(help: "Concurrent requests.") var batch = 1
    @Option(name: .customLong("adapter"), help: "PEFT adapter directory; repeat to give requests different adapters.") var adapters: [String] = []
    @Option(help: "Weight storage: fp32, bf16, int8 or nf4.") var weights = "fp32"
    @Option(help: "Timed repetitions (after one warm-up).") var `repeat` = 3
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let format = WeightFormat(rawValue: weights) else {
            throw ValidationError("--weights must be fp32, bf16, int8 or nf4")
        }
        let ids = try input.ids()
        // The machine first, so every number below is read against its limits.
        if !json { print(MachineProfile.measure().report) }
        guard batch >= 1, newTokens >= 1, self.repeat >= 1 else { throw ValidationError("--batch, --new-tokens and --repeat must be >= 1") }
        let loadStart = Date()
        let local = try LocalEngine(model: model, needTokenizer: false, maxBatch: max(batch, 1), weights: format)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let resolved = try adapters.enumerated().map { try local.loadAdapter(name: "adapter\($0.offset)", directory: $0.element) }
        try EncoderInputOptions.checkVocabulary(ids, local.model.config.vocabSize)
        // Model and adapters loaded, nothing run yet: what generation adds on top is activations.
        let rssAfterLoad = Self.residentBytes()
        var p = GenerationParameters()
        p.maxNewTokens = newTokens; p.ignoreEOS = true
        let requests = (0..<batch).map { i in (ids: ids, adapter: resolved.isEmpty ? nil : resolved[i % resolved.count]) }
        var times: [Double] = []
        for round in 0...self.repeat {
            let start = Date()
            let outputs = try CLIError.wrap { try local.engine.generateAll(requests, parameters: p) }
            let t = Date().timeIntervalSince(start)
            guard outputs.allSatisfy({ $0.tokens.count == newTokens }) else { throw CLIError(description: "a request did not produce exactly \(newTokens) tokens") }
            if round > 0 { times.append(t) }
        }
        times.sort()
        let median = times[times.count / 2]
        let rss = Self.residentBytes()
        let result: [String: Any] = [
            "latency_s": median, "throughput": Double(batch) / median, "batch": batch, "new_tokens": newTokens,
            "input_tokens": ids.count, "adapters": adapters.count, "weights": weights, "repeat": self.repeat,
            "weight_bytes": local.model.weightBytes, "min_latency_s": times.first!, "max_latency_s": times.last!, "load_s": loadSeconds, "rss_bytes": rss,
            "rss_after_load_bytes": rssAfterLoad, "activation_bytes": max(0, rss - rssAfterLoad),
            "kernels": KernelISA.selected.description, "cpu_features": CPUFeatures.detected.description,
        ]
        if json { try printJSON(result) } else {
            print(String(format: "batch %d, %d input tokens, %d new tokens: median %.3f s per batch, %.2f summaries/s (RSS %.0f MB)",
                         batch, ids.count, newTokens, median, Double(batch) / median, Double(rss) / 1e6))
        }
    }

    static func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let parts = s.split(separator: " ")
        return parts.count > 1 ? (Int(parts[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }
}

import ArgumentParser
import Foundation
import Numerics
import Serving
import T5

/// `bench-prefill`: how long requests already generating stall when a long prompt arrives
/// (issue 13 item 5). Runs the same workload twice in-process: with the prefill budget unbounded
/// (the whole admission encoded before the next decoder step, as the engine did before it
/// interleaved) and with the default layer-by-layer interleaving. Reports the running requests'
/// largest gap between two tokens, their median gap, and the long request's time to first token.
struct PrefillGapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-prefill",
                                                    abstract: "Measure token gaps of running requests while a long prompt is prefilled.")

    @Option(help: "Model directory.") var model: String
    @Option(help: "Weight storage: fp32, bf16 or int8.") var weights = "fp32"
    @Option(help: "Requests already decoding when the long prompt arrives.") var running = 1
    @Option(help: "Prompt tokens of each running request.") var runningPromptTokens = 60
    @Option(help: "New tokens of each running request (exactly; EOS ignored).") var runningTokens = 60
    @Option(help: "Prompt tokens of the long request that arrives.") var promptTokens = 500
    @Option(help: "Decoder steps the running requests take before the long prompt arrives.") var stepsBefore = 10
    @Option(help: "Timed repetitions per mode (after one warm-up).") var `repeat` = 3
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let format = WeightFormat(rawValue: weights) else { throw ValidationError("--weights must be fp32, bf16 or int8") }
        guard running >= 1, runningTokens > stepsBefore + 2, promptTokens >= 2, runningPromptTokens >= 2, self.repeat >= 1 else {
            throw ValidationError("need --running >= 1, --running-tokens > --steps-before + 2, prompts of >= 2 tokens, --repeat >= 1")
        }
        if !json { print(MachineProfile.measure().report) }
        let t5 = try CLIError.wrap { try T5ForConditionalGeneration(directory: URL(fileURLWithPath: model), weightFormat: format) }
        let shortIDs: [[Int32]] = (0..<running).map { r in Self.prompt(runningPromptTokens, seed: r + 1) }
        let longIDs = Self.prompt(promptTokens, seed: 0)
        var results: [[String: Any]] = []
        for (mode, budget) in [("whole prefill before the next step", Int.max), ("interleaved layer by layer", InferenceEngine.defaultPrefillRowLayersPerStep)] {
            var maxGaps: [Double] = [], medianGaps: [Double] = [], firstTokens: [Double] = []
            for round in 0...self.repeat {
                let r = try measure(t5, budget: budget, shortIDs: shortIDs, longIDs: longIDs)
                guard round > 0 else { continue }
                maxGaps.append(r.maxGap); medianGaps.append(r.medianGap); firstTokens.append(r.longFirstToken)
            }
            let row: [String: Any] = ["mode": mode, "max_gap_s": median(maxGaps), "median_gap_s": median(medianGaps),
                                      "long_first_token_s": median(firstTokens), "max_gap_runs_s": maxGaps]
            results.append(row)
            if !json {
                print(String(format: "%@: running requests' largest token gap %.3f s (median gap %.3f s); the %d-token prompt's first token after %.3f s",
                             mode, median(maxGaps), median(medianGaps), promptTokens, median(firstTokens)))
            }
        }
        if json {
            try printJSON(["running": running, "running_prompt_tokens": runningPromptTokens, "running_tokens": runningTokens,
                           "prompt_tokens": promptTokens, "weights": weights, "repeat": self.repeat, "modes": results])
        }
    }

    private func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

    /// Ordinary word pieces, different per seed, ending in </s>.
    static func prompt(_ length: Int, seed: Int) -> [Int32] {
        var ids: [Int32] = []
        for i in 0..<(length - 1) { ids.append(Int32(100 + (i * 37 + seed * 101) % 20000)) }
        return ids + [1]
    }

    /// One run: the running requests start, and after `stepsBefore` decoder steps the long prompt
    /// is submitted from the engine thread (so it arrives at the same point in every run).
    private func measure(_ t5: T5ForConditionalGeneration, budget: Int, shortIDs: [[Int32]], longIDs: [Int32]) throws
        -> (maxGap: Double, medianGap: Double, longFirstToken: Double) {
        let engine = InferenceEngine(model: t5, maxBatch: running + 1, maxQueue: 100)
        engine.prefillRowLayersPerStep = budget
        let outputs = Outputs(count: running + 1)
        let group = DispatchGroup()
        var p = GenerationParameters()
        p.maxNewTokens = runningTokens; p.minNewTokens = runningTokens; p.ignoreEOS = true
        var longParameters = p
        longParameters.maxNewTokens = 4; longParameters.minNewTokens = 4
        let steps = StepCounter()
        let slices = SliceTimes()
        let stepsBefore = stepsBefore, running = running
        group.enter()
        let longJob = GenerationJob(ids: longIDs, parameters: longParameters) { outputs.set(running, $0); group.leave() }
        engine.onEvent = { event in
            slices.record(event)
            if case .decoderStep = event, steps.next() == stepsBefore { _ = try? engine.submit(longJob) }
        }
        engine.start()
        defer { engine.drain() }
        for (i, ids) in shortIDs.enumerated() {
            group.enter()
            try CLIError.wrap { try engine.submit(GenerationJob(ids: ids, parameters: p) { outputs.set(i, $0); group.leave() }) }
        }
        group.wait()
        let results = try outputs.values.map { r throws in
            switch r! { case .success(let o): o; case .failure(let e): throw CLIError(description: e.message) }
        }
        let gaps = results.prefix(running).flatMap(\.tokenGapSeconds).sorted()
        if !json { print("  longest work before each kind of event (s): \(slices.longest)") }
        return (gaps.last ?? 0, gaps[gaps.count / 2], results[running].firstTokenSeconds ?? 0)
    }
}

/// Decoder steps seen so far (counted on the engine thread).
private final class StepCounter: @unchecked Sendable {
    private var count = 0
    func next() -> Int { count += 1; return count }
}

/// Each request's result, filled in on the engine thread.
private final class Outputs: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<GenerationOutput, ServiceError>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<GenerationOutput, ServiceError>) { lock.lock(); slots[i] = r; lock.unlock() }
    var values: [Result<GenerationOutput, ServiceError>?] { lock.lock(); defer { lock.unlock() }; return slots }
}

/// The longest stretch of engine work that ended in each kind of event (the time since the
/// previous event), to show which slice a largest gap is made of.
private final class SliceTimes: @unchecked Sendable {
    private var last: Date?
    private(set) var longest: [String: Double] = [:]
    func record(_ event: EngineEvent) {
        let now = Date()
        defer { last = now }
        guard let last else { return }
        let kind: String
        switch event {
        case .encoderLayer(let layer, _, _): kind = layer == 1 ? "first encoder layer" : "encoder layer"
        case .encoded: kind = "cross-attention caches"
        case .decoderStep: kind = "decoder step"
        }
        longest[kind] = max(longest[kind] ?? 0, (now.timeIntervalSince(last) * 1000).rounded() / 1000)
    }
}

import Foundation
import Testing
@testable import Serving
import T5

/// Issue 13 item 5: a long prompt arriving while another request decodes is encoded layer by
/// layer between that request's decoder steps, and (issue 11) a client that leaves mid-prefill
/// stops its remaining layers. Proven from the engine's own event order, never from timing.
@Suite(.serialized) struct PrefillInterleavingTests {
    /// The engine's events in order, and a hook the engine thread runs on each one.
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var log: [EngineEvent] = []
        var hook: (@Sendable (EngineEvent, Int) -> Void)?
        func record(_ e: EngineEvent) {
            lock.lock(); log.append(e); let n = log.count; lock.unlock()
            hook?(e, n)
        }
        var events: [EngineEvent] { lock.lock(); defer { lock.unlock() }; return log }
    }

    /// Waits for a result (a completion on the engine thread), bounded by iterations, not time.
    final class Outcome: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var value: Result<GenerationOutput, ServiceError>?
        func set(_ r: Result<GenerationOutput, ServiceError>) { lock.lock(); value = r; lock.unlock(); done.signal() }
        func wait() -> Result<GenerationOutput, ServiceError> { done.wait(); lock.lock(); defer { lock.unlock() }; return value! }
    }

    let model: T5ForConditionalGeneration

    init() throws { model = try T5ForConditionalGeneration(directory: Paths.tinyFlan) }

    /// A prompt of `length` ids (EOS last), different for each `seed`.
    static func prompt(_ length: Int, seed: Int) -> [Int32] {
        (0..<(length - 1)).map { Int32(3 + ($0 * 7919 + seed * 104_729) % 32_000) } + [1]
    }

    static func parameters(_ tokens: Int) -> GenerationParameters {
        var p = GenerationParameters()
        p.maxNewTokens = tokens; p.minNewTokens = tokens; p.ignoreEOS = true
        return p
    }

    func job(_ ids: [Int32], _ tokens: Int, _ outcome: Outcome) -> GenerationJob {
        GenerationJob(ids: ids, parameters: Self.parameters(tokens)) { outcome.set($0) }
    }

    /// What the same request generates alone, encoded in one piece (`generate`).
    func alone(_ ids: [Int32], _ tokens: Int) -> [Int32] {
        model.generate([GenerationRequest(ids: ids, parameters: Self.parameters(tokens))])[0]
    }

    @Test func longPromptIsEncodedBetweenDecoderStepsOfARunningRequest() throws {
        let engine = InferenceEngine(model: model, maxBatch: 4)
        let recorder = Recorder()
        engine.onEvent = { recorder.record($0) }
        let running = Self.prompt(12, seed: 1), long = Self.prompt(600, seed: 2)
        let a = Outcome(), b = Outcome()
        // B arrives right after A's first decoder step (submitted from the engine thread itself,
        // so the schedule below is exact).
        recorder.hook = { event, n in
            if n == 4, case .decoderStep = event { _ = try? engine.submit(self.job(long, 5, b)) }
        }
        engine.start()
        defer { engine.drain() }
        let idA = try engine.submit(job(running, 40, a))
        let outA = try a.wait().get(), outB = try b.wait().get()
        let idB = GenerationID(value: idA.value + 1)
        // A's prompt fits in one slice (2 layers, then its caches); B's 600 rows exceed the
        // per-step budget at every stage, so each of its layers gets a decoder step of A after it.
        let expected: [EngineEvent] = [
            .encoderLayer(layer: 1, of: 2, generations: [idA]), .encoderLayer(layer: 2, of: 2, generations: [idA]), .encoded([idA]),
            .decoderStep([idA]),
            .encoderLayer(layer: 1, of: 2, generations: [idB]), .decoderStep([idA]),
            .encoderLayer(layer: 2, of: 2, generations: [idB]), .decoderStep([idA]),
            .encoded([idB]), .decoderStep([idA, idB]),
        ]
        #expect(Array(recorder.events.prefix(expected.count)) == expected)
        // Token-identical to each request generated alone with the whole-stack encoder.
        #expect(outA.tokens == alone(running, 40))
        #expect(outB.tokens == alone(long, 5))
    }

    @Test func requestsArrivingTogetherWhileIdleEncodeAsOneGroupAndDecodeTogether() throws {
        let engine = InferenceEngine(model: model, maxBatch: 4)
        let recorder = Recorder()
        engine.onEvent = { recorder.record($0) }
        // 600 rows in all: three 256-row groups if the engine kept its busy-time group size.
        let prompts = [Self.prompt(200, seed: 6), Self.prompt(180, seed: 7), Self.prompt(220, seed: 8)]
        let outcomes = [Outcome(), Outcome(), Outcome()]
        // Queued before the engine starts, so all three are admitted in its first pass.
        let ids = try zip(prompts, outcomes).map { try engine.submit(job($0, 6, $1)) }
        engine.start()
        defer { engine.drain() }
        let outputs = try outcomes.map { try $0.wait().get() }
        let expected: [EngineEvent] = [
            .encoderLayer(layer: 1, of: 2, generations: ids), .encoderLayer(layer: 2, of: 2, generations: ids),
            .encoded(ids), .decoderStep(ids),
        ]
        #expect(Array(recorder.events.prefix(expected.count)) == expected)
        for (p, out) in zip(prompts, outputs) { #expect(out.tokens == alone(p, 6)) }
    }

    @Test func clientLeavingMidPrefillStopsItsRemainingLayers() throws {
        let engine = InferenceEngine(model: model, maxBatch: 4)
        let recorder = Recorder()
        engine.onEvent = { recorder.record($0) }
        let running = Self.prompt(12, seed: 3), leaving = Self.prompt(150, seed: 4), staying = Self.prompt(140, seed: 5)
        let a = Outcome(), b = Outcome(), c = Outcome()
        let ids = IDs()
        recorder.hook = { event, n in
            // B and C arrive together after A's first step and share one admission group
            // (290 rows); B's client leaves once the group's first layer has run.
            if n == 4, case .decoderStep = event {
                ids.b = try? engine.submit(self.job(leaving, 5, b))
                ids.c = try? engine.submit(self.job(staying, 5, c))
            }
            if case .encoderLayer(1, _, let gens) = event, let idB = ids.b, gens.contains(idB) { engine.cancel(idB) }
        }
        engine.start()
        defer { engine.drain() }
        let idA = try engine.submit(job(running, 30, a))
        let outC = try c.wait().get()
        let cancelled = b.wait()
        _ = try a.wait().get()
        let (idB, idC) = (try #require(ids.b), try #require(ids.c))
        guard case .failure(let error) = cancelled else { Issue.record("B was not cancelled"); return }
        #expect(error.code == "cancelled")
        let events = recorder.events
        #expect(events.contains(.encoderLayer(layer: 1, of: 2, generations: [idB, idC])))
        // After the cancel, B's rows are gone: the second layer and the caches are C's alone.
        #expect(events.contains(.encoderLayer(layer: 2, of: 2, generations: [idC])))
        #expect(events.contains(.encoded([idC])))
        #expect(!events.contains { if case .decoderStep(let g) = $0 { g.contains(idB) } else { false } })
        #expect(events.contains(.decoderStep([idA, idC])))
        #expect(engine.currentStats.cancelled == 1)
        #expect(outC.tokens == alone(staying, 5))
    }

    final class IDs: @unchecked Sendable {
        var b: GenerationID?
        var c: GenerationID?
    }
}

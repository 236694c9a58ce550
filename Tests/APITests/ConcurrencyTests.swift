import Foundation
import HTTPTesting
import Testing
@testable import Adapters
@testable import Serving
@testable import T5

/// Many clients while adapters are activated and replaced: every response must carry the output
/// of exactly the adapter it reports.
@Suite(.serialized) struct ConcurrencyTests {
    @Test func reportedAdapterAlwaysMatchesOutput() throws {
        let live = try LiveService()
        defer { live.stop() }
        let dirs = ["lora-qv", "lora-all-rslora", "lora-patterns", "prompt-20"].map { Paths.tinyAdapters.appendingPathComponent($0) }
        let dialogue = "#Person1#: Can we move the meeting to Friday?\n#Person2#: Sure, Friday at ten works."
        let ids = live.service.tokenizer.encode(Paths.lab.replacingOccurrences(of: "{dialogue}", with: dialogue))
        var p = GenerationParameters(); p.maxNewTokens = 6
        // Expected tokens per adapter sha, computed directly on the model.
        var outputs: [String: [Int32]] = [:]
        for dir in dirs {
            let a = try PEFTAdapter.load(directory: dir, base: live.service.model)
            outputs[a.info.sha256] = live.service.model.generate([GenerationRequest(ids: ids, adapter: a.weights, parameters: p)])[0]
        }
        let expected = outputs
        #expect(Set(expected.values.map { $0.description }).count == dirs.count, "fixture adapters should differ")
        #expect(try live.upload("hot", from: dirs[0]).status == 201)
        #expect(try live.call("POST", "/v1/adapters/hot/activate", json: ["task": "t"]).status == 200)
        #expect(try live.upload("cold", from: dirs[1]).status == 201)

        let failures = Counter()
        let checked = Counter()
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            do {
                switch i % 8 {
                case 0:
                    _ = try live.upload("hot", from: dirs[(i / 8) % dirs.count], query: "?replace=true")
                case 4:
                    _ = try live.call("POST", "/v1/adapters/\(i % 16 == 4 ? "cold" : "hot")/activate", json: ["task": "t"])
                default:
                    let body: [String: Any] = ["dialogue": dialogue, "task": "t", "parameters": ["max_new_tokens": 6], "return_token_ids": true]
                    let r = try live.call("POST", "/v1/summarize", json: body)
                    guard r.status == 200, let sha = r.adapterSHA, let want = expected[sha] else { failures.add(); return }
                    if r.tokenIDs != want { failures.add() }
                    checked.add()
                }
            } catch { failures.add() }
        }
        #expect(failures.value == 0)
        #expect(checked.value == 30)
    }

    @Test func fullQueueAnswers503WithRetryAfter() throws {
        let live = try LiveService { $0.maxBatch = 1; $0.maxQueue = 1 }
        defer { live.stop() }
        // Hold the engine thread so the queue state is exact, not a matter of timing.
        let gate = DispatchSemaphore(value: 0)
        let held = DispatchSemaphore(value: 0)
        Thread.detachNewThread { _ = try? live.service.engine.perform { held.signal(); gate.wait() } }
        held.wait()
        let first = Box()
        let t = Thread { first.response = try? live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: one", "parameters": ["max_new_tokens": 2]]) }
        t.start()
        try waitUntil { live.service.engine.currentStats.queueDepth >= 1 }
        let rejected = try live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: two", "parameters": ["max_new_tokens": 2]])
        #expect(rejected.status == 503 && rejected.errorCode == "queue_full")
        #expect(rejected.headers["Retry-After"] != nil)
        gate.signal()
        try waitUntil { first.response != nil }
        #expect(first.response?.status == 200)
    }
}

/// Polls a condition for at most 60 s (a bound for a hung server, not a timing assertion).
func waitUntil(_ condition: () -> Bool) throws {
    for _ in 0..<60_000 {
        if condition() { return }
        usleep(1000)
    }
    throw TimedOut()
}

struct TimedOut: Error {}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

final class Box: @unchecked Sendable {
    private let lock = NSLock()
    private var r: CurlResponse?
    var response: CurlResponse? {
        get { lock.lock(); defer { lock.unlock() }; return r }
        set { lock.lock(); r = newValue; lock.unlock() }
    }
}

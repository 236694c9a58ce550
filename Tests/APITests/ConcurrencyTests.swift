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
        var sha: [URL: String] = [:]
        for dir in dirs {
            let a = try PEFTAdapter.load(directory: dir, base: live.service.model)
            outputs[a.info.sha256] = live.service.model.generate([GenerationRequest(ids: ids, adapter: a.weights, parameters: p)])[0]
            sha[dir] = a.info.sha256
        }
        let expected = outputs
        let shaOf = sha
        #expect(Set(expected.values.map { $0.description }).count == dirs.count, "fixture adapters should differ")
        // A version counts as existing from the moment its upload is sent: a response may name
        // it only after that, and only under the name it was uploaded as.
        let versions = VersionLog()
        versions.add("hot", sha[dirs[0]]!)
        #expect(try live.upload("hot", from: dirs[0]).status == 201)
        #expect(try live.call("POST", "/v1/adapters/hot/activate", json: ["task": "t"]).status == 200)
        versions.add("cold", sha[dirs[1]]!)
        #expect(try live.upload("cold", from: dirs[1]).status == 201)

        let problems = Problems()
        let checked = Counter()
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            do {
                switch i % 8 {
                case 0:
                    let dir = dirs[(i / 8) % dirs.count]
                    versions.add("hot", shaOf[dir]!)
                    let r = try live.upload("hot", from: dir, query: "?replace=true")
                    if r.status != 201 { problems.add("replace \(dir.lastPathComponent): \(r.status) \(r.text)") }
                case 4:
                    let name = i % 16 == 4 ? "cold" : "hot"
                    let r = try live.call("POST", "/v1/adapters/\(name)/activate", json: ["task": "t"])
                    if r.status != 200 { problems.add("activate \(name): \(r.status) \(r.text)") }
                default:
                    let body: [String: Any] = ["dialogue": dialogue, "task": "t", "parameters": ["max_new_tokens": 6], "return_token_ids": true]
                    let r = try live.call("POST", "/v1/summarize", json: body)
                    guard r.status == 200, let name = r.adapterName, let reported = r.adapterSHA else {
                        problems.add("summarize: \(r.status) \(r.text)"); return
                    }
                    if !versions.contains(name, reported) { problems.add("\(name) reported \(reported), never uploaded as \(name)") }
                    if r.tokenIDs != expected[reported] { problems.add("\(name) \(reported): tokens \(r.tokenIDs) are not that version's") }
                    checked.add()
                }
            } catch { problems.add("\(error)") }
        }
        #expect(problems.all.isEmpty, "\(problems.all)")
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

/// Adapter versions (name, sha256) uploaded so far, from several threads.
final class VersionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var versions: Set<String> = []
    func add(_ name: String, _ sha: String) { lock.lock(); versions.insert(name + "@" + sha); lock.unlock() }
    func contains(_ name: String, _ sha: String) -> Bool { lock.lock(); defer { lock.unlock() }; return versions.contains(name + "@" + sha) }
}

/// What went wrong, from several threads, so a failure says which call and why.
final class Problems: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

final class Box: @unchecked Sendable {
    private let lock = NSLock()
    private var r: CurlResponse?
    var response: CurlResponse? {
        get { lock.lock(); defer { lock.unlock() }; return r }
        set { lock.lock(); r = newValue; lock.unlock() }
    }
}

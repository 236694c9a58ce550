import Adapters
import Foundation
import HTTPTesting
import Testing
@testable import Serving

/// Issue 11 item 4: an evicted adapter is read back on the loader thread; the request that needs
/// it waits parked, and everyone else keeps decoding meanwhile.
@Suite(.serialized) struct AdapterLoaderTests {
    @Test func decodingNeverWaitsForAnAdapterLoad() throws {
        let lora = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        let loaded = try LiveService()
        let bytes = try PEFTAdapter.load(directory: lora, base: loaded.service.model).info.bytes
        loaded.stop()
        // Room for exactly one: storing "b" evicts "a".
        let live = try LiveService { $0.adapterBudgetBytes = bytes }
        defer { live.stop() }
        #expect(try live.upload("a", from: lora).status == 201)
        #expect(try live.upload("b", from: lora).status == 201)
        #expect(live.service.registry.summary("a")?.loaded == false)

        // Hold the loader inside its read of "a".
        let engine = live.service.engine
        let original = engine.loadAdapter!
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        engine.loadAdapter = { name in entered.signal(); release.wait(); return original(name) }

        let parked = ResponseBox()
        let t = Thread { parked.value = try? live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Hi.", "adapter": "a"]) }
        t.start()
        entered.wait()
        // The engine publishes its count at the end of the loop that parked the request.
        for _ in 0..<120_000 where engine.currentStats.waitingForAdapters != 1 { usleep(500) }
        #expect(engine.currentStats.waitingForAdapters == 1)
        // While "a" is being read, other requests are admitted and decoded to completion.
        let other = try live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Meanwhile.", "parameters": ["max_new_tokens": 4]])
        #expect(other.status == 200, "\(other.text)")
        #expect(parked.value == nil)
        release.signal()
        for _ in 0..<120_000 where parked.value == nil { usleep(500) }
        #expect(parked.value?.status == 200, "\(parked.value?.text ?? "no response")")
        #expect(parked.value?.adapterName == "a")
        #expect(engine.currentStats.waitingForAdapters == 0)
    }
}

final class ResponseBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: CurlResponse?
    var value: CurlResponse? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

import Foundation
import HTTPTesting
import Testing
@testable import API
@testable import Serving

/// Issue 11 item 6: a generation whose client hangs up, or that passes its deadline, leaves the
/// batch at the next decoder step instead of running to its token limit.
@Suite(.serialized) struct CancellationTests {
    static let longRun = 20_000

    /// Polls a condition (the hang guard is an iteration bound, not a timing assertion).
    func eventually(_ what: String, _ condition: () -> Bool) throws {
        for _ in 0..<120_000 {
            if condition() { return }
            usleep(500)
        }
        Issue.record("never happened: \(what)")
        throw CancellationError()
    }

    func longSummaryRequest(_ port: Int) throws -> RawConnection {
        let body = try JSONSerialization.data(withJSONObject: [
            "dialogue": "#Person1#: Tell me everything. #Person2#: Where do I begin?",
            "parameters": ["max_new_tokens": Self.longRun, "min_new_tokens": Self.longRun],
        ])
        let connection = try RawConnection(port: port)
        try connection.send("POST /v1/summarize HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
        try connection.send([UInt8](body))
        return connection
    }

    @Test func clientThatHangsUpIsCancelled() throws {
        let live = try LiveService { $0.maxNewTokensCap = Self.longRun; $0.maxBatch = 1 }
        defer { live.stop() }
        let engine = live.service.engine
        do {
            let connection = try longSummaryRequest(live.server.boundPort)
            try eventually("the long request is decoding") { engine.currentStats.activeSequences == 1 }
            _ = connection   // closed when this scope ends: the client goes away mid-generation
        }
        try eventually("the engine cancels it") { engine.currentStats.cancelled == 1 }
        let stats = engine.currentStats
        #expect(stats.cancelledTokens < Self.longRun, "stopped early: \(stats.cancelledTokens) of \(Self.longRun) tokens")
        #expect(stats.activeSequences == 0)
        let metrics = try live.call("GET", "/metrics").text
        #expect(metrics.contains("adapterserve_cancelled_generations_total 1"), "\(metrics.prefix(2000))")
        // The only batch slot is free again: a normal request is served.
        let r = try live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Hi.", "parameters": ["max_new_tokens": 3]])
        #expect(r.status == 200, "\(r.text)")
    }

    @Test func requestPastItsDeadlineLeavesTheBatch() throws {
        let live = try LiveService { $0.maxNewTokensCap = Self.longRun; $0.requestTimeoutSeconds = 0.2 }
        defer { live.stop() }
        let r = try live.call("POST", "/v1/summarize", json: [
            "dialogue": "#Person1#: Tell me everything.", "parameters": ["max_new_tokens": Self.longRun, "min_new_tokens": Self.longRun],
        ])
        #expect(r.status == 504 && r.errorCode == "timeout", "\(r.status) \(r.text)")
        #expect(live.service.engine.currentStats.activeSequences == 0)
    }
}

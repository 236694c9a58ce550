import Foundation
import HTTPTesting
import Testing
@testable import API
@testable import Serving

/// Issue 11 item 5: hundreds of idle or stalled connections (the slowloris shape: a request
/// line and a header, then nothing) cost the server no threads, and a normal client still gets
/// /healthz and a summary. With the per-address limit on, the attackers spread over 127.0.0.2+.
@Suite(.serialized) struct ManyConnectionsTests {
    static let attackers = 300

    func openAttackers(port: Int, perAddress: Int) throws -> [RawConnection] {
        var open: [RawConnection] = []
        for i in 0..<Self.attackers {
            let source = "127.0.0.\(2 + i / perAddress)"
            let c = try RawConnection(port: port, source: source)
            if i % 2 == 0 { try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n") }   // stalls mid-headers
            open.append(c)                                                          // odd ones send nothing
        }
        return open
    }

    @Test func normalClientIsServedWhileHundredsStall() throws {
        let live = try LiveService { $0.perIPConnectionLimit = 10; $0.headerTimeoutSeconds = 600; $0.idleTimeoutSeconds = 600 }
        defer { live.stop() }
        let port = live.server.boundPort
        let attackers = try openAttackers(port: port, perAddress: 10)
        // Every one of them is held open by the server (its own accounting), none refused.
        for _ in 0..<60_000 where live.server.http.openConnections < Self.attackers { usleep(500) }
        #expect(live.server.http.openConnections >= Self.attackers)

        #expect(try live.call("GET", "/healthz").status == 200)
        let summary = try live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Still there?", "parameters": ["max_new_tokens": 3]])
        #expect(summary.status == 200, "\(summary.text)")

        // The per-address limit: an 11th connection from a full address is closed at once.
        let extra = try RawConnection(port: port, source: "127.0.0.2")
        #expect(extra.readUntilClosed(timeout: 30).ending == .closed)
        withExtendedLifetime(attackers) {}
    }

    @Test func stalledHeadersAreCutAtTheDeadline() throws {
        let live = try LiveService { $0.headerTimeoutSeconds = 0.5; $0.idleTimeoutSeconds = 600 }
        defer { live.stop() }
        let stalled = try RawConnection(port: live.server.boundPort)
        try stalled.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        // Idle timeout is 10 minutes: only the header deadline can end this connection.
        #expect(stalled.readUntilClosed(timeout: 60).ending == .closed)
        #expect(live.server.http.headerTimeouts == 1)
        #expect(try live.call("GET", "/healthz").status == 200)
    }
}

@testable import Hub
import Testing

/// Progress lines from a clock the test drives: what a user sees at a given moment.
@Suite struct ProgressTests {
    final class Script: @unchecked Sendable {
        var time = 0.0
        var out: [String] = []
    }

    @Test func logLinesCarryBytesRateAndETA() {
        let s = Script()
        let p = ProgressReporter(interactive: false, logIntervalSeconds: 5, clock: { s.time }, write: { s.out.append($0) })
        p.begin("model.safetensors", total: 1_000_000, alreadyHave: 0)
        #expect(s.out == ["downloading model.safetensors (1.0 MB)\n"])
        s.time = 1
        p.advance(to: 100_000)
        #expect(s.out.count == 1)  // within the log interval: quiet
        s.time = 6
        p.advance(to: 600_000)
        #expect(s.out.last == "  model.safetensors  600.0 KB / 1.0 MB  60%  100.0 KB/s  ETA 0:04\n")
        p.end("done, sha256 verified")
        #expect(s.out.last == "model.safetensors: done, sha256 verified\n")
    }

    @Test func terminalRedrawsOneLineAndCountsOnlyThisSessionsBytesInTheRate() {
        let s = Script()
        let p = ProgressReporter(interactive: true, clock: { s.time }, write: { s.out.append($0) })
        p.begin("model.safetensors", total: 990_000_000, alreadyHave: 594_000_000)
        #expect(s.out == ["downloading model.safetensors (990.0 MB, resuming at 594.0 MB)\n"])
        s.time = 10
        p.advance(to: 694_000_000)
        #expect(s.out.last == "\r\u{1B}[K  model.safetensors  694.0 MB / 990.0 MB  70%  10.0 MB/s  ETA 0:30")
        p.end("done")
        #expect(s.out.last == "\r\u{1B}[Kmodel.safetensors: done\n")
        #expect(ProgressReporter.duration(4000) == "1:06:40")
    }
}

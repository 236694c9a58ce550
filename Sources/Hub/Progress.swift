import Foundation

/// Download progress: a redrawn status line (bytes, rate, ETA) on a terminal, otherwise a log
/// line every few seconds so a CI log or a pipe still shows the pull is alive.
public final class ProgressReporter: @unchecked Sendable {
    private let interactive: Bool
    private let write: (String) -> Void
    private let logInterval: Double
    private var file = ""
    private var total: Int64 = 0
    private var done: Int64 = 0
    private var sessionStart = 0.0
    private var sessionStartBytes: Int64 = 0
    private var lastShown = 0.0
    private let clock: () -> Double

    /// `interactive`: standard error is a terminal. `clock` gives seconds (tests pass their
    /// own). `write` defaults to standard error.
    public init(interactive: Bool = isatty(2) == 1, logIntervalSeconds: Double = 5,
                clock: @escaping () -> Double = { Date().timeIntervalSinceReferenceDate },
                write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.interactive = interactive
        self.logInterval = logIntervalSeconds
        self.clock = clock
        self.write = write
    }

    public func note(_ line: String) {
        write(line + "\n")
    }

    func begin(_ name: String, total: Int64, alreadyHave: Int64) {
        file = name
        self.total = total
        done = alreadyHave
        sessionStart = clock()
        sessionStartBytes = alreadyHave
        lastShown = sessionStart
        let resume = alreadyHave > 0 ? ", resuming at \(Self.bytes(alreadyHave))" : ""
        write("downloading \(name) (\(Self.bytes(total))\(resume))\n")
    }

    func advance(to bytes: Int64) {
        done = bytes
        let now = clock()
        if now - lastShown >= (interactive ? 0.2 : logInterval) {
            lastShown = now
            write(interactive ? "\r\u{1B}[K" + status(now) : status(now) + "\n")
        }
    }

    func end(_ outcome: String) {
        let clear = interactive ? "\r\u{1B}[K" : ""
        write("\(clear)\(file): \(outcome)\n")
    }

    private func status(_ now: Double) -> String {
        let elapsed = max(now - sessionStart, 1e-3)
        let rate = Double(done - sessionStartBytes) / elapsed
        let percent = total > 0 ? Double(done) * 100 / Double(total) : 100
        let eta = rate > 0 ? Self.duration(Double(total - done) / rate) : "?"
        return "  \(file)  \(Self.bytes(done)) / \(Self.bytes(total))  \(String(format: "%.0f", percent))%  \(Self.bytes(Int64(rate)))/s  ETA \(eta)"
    }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(n)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f", value) + " " + units[unit]
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

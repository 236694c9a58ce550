import Foundation
import HTTPTesting
import Testing

/// Issue 12, start-up order: `serve` binds before it loads, so /healthz answers 200 and /readyz
/// 503 `{"status":"loading"}` while loading, then 200; and `healthcheck` (the image's probe, the
/// slim image has no curl) agrees with curl on what it sees.
@Suite(.serialized) struct StartupOrderTests {
    /// No timing: the child's stdout is a pipe filled to capacity before it starts, so its
    /// "starting on" line, written after binding and before loading, blocks until the test reads.
    /// Whatever the scheduling, the model cannot have been loaded while we probe.
    @Test func readyzSaysLoadingUntilTheModelIsLoaded() throws {
        let scratch = try TemporaryDirectory()
        let err = scratch.file("stderr")
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let stdout = Pipe()
        try fillToCapacity(stdout.fileHandleForWriting.fileDescriptor)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--adapters", scratch.url.appendingPathComponent("adapters").path, "--port", "0", "--log-format", "text"]
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        try? stdout.fileHandleForWriting.close()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

        var port: Int?
        for _ in 0..<1200 where port == nil {
            port = boundPort(inLog: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
            if port == nil { usleep(50_000) }
        }
        let bound = try #require(port, "no 'bound' log line: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        let base = "http://127.0.0.1:\(bound)"

        let loading = try curl([base + "/readyz"])
        #expect(loading.status == 503)
        #expect(json(loading.body)["status"] as? String == "loading")
        #expect(loading.headers["Retry-After"] != nil)
        #expect(try curl([base + "/healthz"]).status == 200)
        let early = try curl(["-X", "POST", "-H", "Content-Type: application/json", "-d", ##"{"dialogue": "#Person1#: hi"}"##, base + "/v1/summarize"])
        #expect(early.status == 503)
        #expect((json(early.body)["error"] as? [String: Any])?["code"] as? String == "loading")
        let probeLoading = try CLI.run(["healthcheck", "--url", base + "/readyz"])
        #expect(probeLoading.exitCode == 1 && probeLoading.stderr.contains("answered 503"), "\(probeLoading.stderr)")
        let probeAlive = try CLI.run(["healthcheck", "--url", base + "/healthz"])
        #expect(probeAlive.exitCode == 0, "\(probeAlive.stderr)")

        // Release the child: read its stdout (filler, then its lines) until it closes.
        let output = OutputBox()
        let reader = Thread {
            while true {
                let chunk = stdout.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                output.append(chunk)
            }
            output.finish()
        }
        reader.start()
        var ready: CurlResponse?
        for _ in 0..<1200 {
            let r = try curl([base + "/readyz"])
            if r.status == 200 { ready = r; break }
            #expect(r.status == 503 && json(r.body)["status"] as? String == "loading", "\(r.status) \(r.text)")
            usleep(50_000)
        }
        let readyAnswer = try #require(ready, "/readyz never answered 200: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        #expect(json(readyAnswer.body)["status"] as? String == "ready")
        #expect(try CLI.run(["healthcheck", "--url", base + "/readyz"]).exitCode == 0)
        let summary = try curl(["-X", "POST", "-H", "Content-Type: application/json",
                                "-d", ##"{"dialogue": "#Person1#: hi", "parameters": {"max_new_tokens": 3}}"##, base + "/v1/summarize"])
        #expect(summary.status == 200, "\(summary.text)")

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        for _ in 0..<600 where !output.finished { usleep(50_000) }
        let lines = String(decoding: output.data, as: UTF8.self).split(separator: "\n").filter { !$0.allSatisfy { $0 == "x" } }
        let text = lines.map { String($0.drop { $0 == "x" }) }
        let starting = text.firstIndex { $0.hasPrefix("starting on \(base) (loading)") }
        let listening = text.firstIndex { $0 == "listening on \(base)" }
        #expect(starting != nil && listening != nil && starting! < listening!, "\(text)")
    }

    /// Protected mode is decided before the bind: a refused start never listens, nor loads.
    @Test func refusedStartNeverBinds() throws {
        let r = try CLI.run(["serve", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--adapters", try TemporaryDirectory().url.path, "--host", "0.0.0.0", "--port", "0"])
        #expect(r.exitCode == 1 && r.stderr.contains("ADAPTER_SERVE_ADMIN_TOKEN"), "\(r.stderr)")
        #expect(!r.stdoutText.contains("starting on") && !r.stderr.contains("bound, loading model"), "\(r.stdoutText)")
    }

    @Test func healthcheckFailsOnRefusedSilentAndBadTargets() throws {
        // A bound socket that does not listen: connecting is refused, and nobody else can take the port.
        let closed = try LoopbackSocket(listen: false)
        let refused = try CLI.run(["healthcheck", "--url", "http://127.0.0.1:\(closed.port)/healthz"])
        #expect(refused.exitCode == 1 && refused.stderr.contains("refused"), "\(refused.stderr)")
        // A listening socket that never answers: the probe gives up after --timeout.
        let silent = try LoopbackSocket(listen: true)
        let hung = try CLI.run(["healthcheck", "--url", "http://127.0.0.1:\(silent.port)/healthz", "--timeout", "0.5"])
        #expect(hung.exitCode == 1 && hung.stderr.contains("timed out"), "\(hung.stderr)")
        for bad in ["https://127.0.0.1/healthz", "http://:80/", "http://127.0.0.1:99999/", "http://[::1/"] {
            let r = try CLI.run(["healthcheck", "--url", bad])
            #expect(r.exitCode != 0 && r.exitCode != 1 && !r.stderr.isEmpty, "\(bad): \(r.exitCode) \(r.stderr)")
        }
    }
}

private func json(_ data: Data) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
}

/// The port from serve's "bound, loading model" log line (`port=NNN`).
private func boundPort(inLog log: String) -> Int? {
    guard let line = log.split(separator: "\n").first(where: { $0.contains("bound, loading model") }) else { return nil }
    return line.split(separator: " ").first { $0.hasPrefix("port=") }.flatMap { Int($0.dropFirst("port=".count)) }
}

/// Writes "x" into the pipe until the kernel refuses more, then makes it blocking again (the
/// flag is shared with the child's copy of the descriptor).
private func fillToCapacity(_ fd: Int32) throws {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    let block = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
    for size in [4096, 1] {
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, size) }) == size {}
        guard errno == EAGAIN else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
    _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
}

/// A TCP socket on 127.0.0.1 with a kernel-chosen port, listening or merely bound.
private final class LoopbackSocket {
    let fd: Int32
    let port: Int

    init(listen shouldListen: Bool) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, ok, !shouldListen || listen(fd, 8) == 0 else { throw POSIXError(.EADDRNOTAVAIL) }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

final class OutputBox: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    private var done = false
    func append(_ d: Data) { lock.lock(); buffer.append(d); lock.unlock() }
    func finish() { lock.lock(); done = true; lock.unlock() }
    var data: Data { lock.lock(); defer { lock.unlock() }; return buffer }
    var finished: Bool { lock.lock(); defer { lock.unlock() }; return done }
}

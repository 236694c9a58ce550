import Foundation
import HTTPTesting
import Testing

/// `adapter-serve serve` as a subprocess, its stdout and stderr captured in files.
final class ServeProcess {
    let scratch: TemporaryDirectory
    let process = Process()
    let outFile: URL, errFile: URL
    private(set) var port: Int?
    private(set) var metricsPort: Int?

    /// Starts `serve` on the tiny model with a fresh adapters directory, `--port 0` and `args`.
    /// The environment is the parent's without any ADAPTER_SERVE_* variable, plus `env`.
    init(_ args: [String], env: [String: String] = [:], scratch: TemporaryDirectory? = nil) throws {
        self.scratch = try scratch ?? TemporaryDirectory()
        outFile = self.scratch.file("serve.stdout")
        errFile = self.scratch.file("serve.stderr")
        FileManager.default.createFile(atPath: outFile.path, contents: nil)
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--adapters", self.scratch.url.appendingPathComponent("adapters").path, "--port", "0"] + args
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ADAPTER_SERVE_") }.merging(env) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
    }

    var stdout: String { (try? String(contentsOf: outFile, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: errFile, encoding: .utf8)) ?? "" }
    var base: String { "http://127.0.0.1:\(port ?? 0)" }

    /// Polls (bounded) until the "listening on" line appears; false if the process exited first.
    func waitUntilListening() -> Bool {
        for _ in 0..<1200 {
            let lines = stdout.split(separator: "\n")
            if let line = lines.first(where: { $0.hasPrefix("listening on http://") }) {
                port = line.split(separator: ":").last.flatMap { Int($0) }
                metricsPort = lines.first { $0.hasPrefix("metrics on http://") }
                    .flatMap { $0.split(separator: ":").last?.split(separator: "/").first }.flatMap { Int($0) }
                return port != nil
            }
            if !process.isRunning { return false }
            usleep(50_000)
        }
        return false
    }

    /// SIGTERM and wait; the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func call(_ method: String, _ path: String, json: String? = nil, headers: [String] = []) throws -> CurlResponse {
        var args = ["-X", method]
        for h in headers { args += ["-H", h] }
        if let json {
            let body = try scratch.write("body-\(UUID().uuidString).json", Data(json.utf8))
            args += ["-H", "Content-Type: application/json", "--data-binary", "@" + body.path]
        }
        return try curl(args + [base + path])
    }

    func upload(_ name: String, headers: [String] = []) throws -> CurlResponse {
        let dir = CLI.fixtures.appendingPathComponent("tiny-flan/adapters/lora-qv")
        var args = ["-X", "PUT", "-H", "Expect:"]
        for h in headers { args += ["-H", h] }
        args += ["-F", "adapter_config.json=@\(dir.appendingPathComponent("adapter_config.json").path)",
                 "-F", "adapter_model.safetensors=@\(dir.appendingPathComponent("adapter_model.safetensors").path)"]
        return try curl(args + [base + "/v1/adapters/\(name)"])
    }
}

/// Issue 18 through the real executable: the start-up cases of protected mode, the open-mode
/// warnings, SIGHUP key reload, and secrets kept out of everything the process writes.
@Suite(.serialized) struct ProtectedModeTests {
    static let summarize = ##"{"dialogue": "#Person1#: hi", "parameters": {"max_new_tokens": 2}}"##
    static let openWarning = "the admin endpoints (upload, delete, activate) are open to anyone"
    static let callWarning = "admin endpoint called without an admin token"

    @Test func loopbackStartsOpenAsToday() throws {
        let serve = try ServeProcess(["--host", "127.0.0.1"])
        defer { serve.stop() }
        #expect(serve.waitUntilListening(), "\(serve.stderr)")
        #expect(try serve.upload("a").status == 201)
        #expect(try serve.call("POST", "/v1/summarize", json: Self.summarize).status == 200)
        #expect(!serve.stderr.contains(Self.openWarning) && !serve.stderr.contains(Self.callWarning))
    }

    @Test(arguments: ["0.0.0.0", "::"])
    func nonLoopbackWithoutTokenIsRefused(_ host: String) throws {
        let r = try CLI.run(["serve", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--adapters", try TemporaryDirectory().url.path, "--host", host, "--port", "0"])
        #expect(r.exitCode != 0)
        #expect(r.stderr.contains("ADAPTER_SERVE_ADMIN_TOKEN") && r.stderr.contains("--admin-endpoints=disabled"), "\(r.stderr)")
        #expect(!r.stdoutText.contains("listening"))
    }

    @Test func disabledAdminEndpointsFromTheCommandLine() throws {
        let serve = try ServeProcess(["--host", "127.0.0.1", "--admin-endpoints=disabled"])
        defer { serve.stop() }
        #expect(serve.waitUntilListening(), "\(serve.stderr)")
        let put = try serve.upload("a")
        #expect(put.status == 405 && put.text.contains("admin_disabled"), "\(put.text)")
        #expect(try serve.call("POST", "/v1/adapters/a/activate", json: #"{"task": "t"}"#).status == 405)
        #expect(try serve.call("DELETE", "/v1/adapters/a").status == 405)
    }

    @Test func allowOpenAdminWarnsAtStartAndOnEveryAdminCall() throws {
        let serve = try ServeProcess(["--host", "127.0.0.1", "--allow-open-admin"])
        defer { serve.stop() }
        #expect(serve.waitUntilListening(), "\(serve.stderr)")
        func warnings() -> (start: Int, calls: Int) {
            let log = serve.stderr
            return (log.components(separatedBy: Self.openWarning).count - 1, log.components(separatedBy: Self.callWarning).count - 1)
        }
        #expect(warnings().start == 1 && warnings().calls == 0, "\(serve.stderr)")
        #expect(try serve.upload("a").status == 201)
        #expect(warnings().calls == 1)
        #expect(try serve.call("POST", "/v1/adapters/a/activate", json: #"{"task": "t"}"#).status == 200)
        #expect(warnings().calls == 2)
        #expect(try serve.call("GET", "/v1/adapters").status == 200)
        #expect(try serve.call("POST", "/v1/summarize", json: Self.summarize).status == 200)
        #expect(warnings().calls == 2, "reads and inference are not admin calls")
        #expect(try serve.call("DELETE", "/v1/adapters/a?force=true").status == 204)
        #expect(warnings() == (1, 3), "\(serve.stderr)")
    }

    @Test func sighupReloadsTheKeyFile() throws {
        let scratch = try TemporaryDirectory()
        let keys = try scratch.write("keys", Data("old-Key-1\n".utf8))
        let serve = try ServeProcess(["--api-key-file", keys.path], scratch: scratch)
        defer { serve.stop() }
        #expect(serve.waitUntilListening(), "\(serve.stderr)")
        func status(_ key: String) throws -> Int { try serve.call("GET", "/v1/adapters", headers: ["Authorization: Bearer \(key)"]).status }
        #expect(try status("old-Key-1") == 200)
        try Data("new-Key-2\n".utf8).write(to: keys, options: .atomic)
        #expect(try status("new-Key-2") == 401, "the file is read at start and on SIGHUP only")
        kill(serve.process.processIdentifier, SIGHUP)
        var reloaded = false
        for _ in 0..<600 where !reloaded {
            reloaded = try status("new-Key-2") == 200
            if !reloaded { usleep(20_000) }
        }
        #expect(reloaded, "\(serve.stderr)")
        #expect(try status("old-Key-1") == 401)
        #expect(serve.process.isRunning, "SIGHUP must not end the process")
        #expect(serve.stderr.contains("reloaded the API key file"))
        #expect(serve.stop() == 0)
    }

    /// Runs with an admin token, a key from the environment and one from a file, makes right and
    /// wrong calls (near misses included), and finds none of those strings in the log, the
    /// metrics or any response body.
    @Test func secretsNeverReachLogsMetricsOrErrors() throws {
        func secret(_ prefix: String) -> String {
            let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
            return prefix + String((0..<24).map { _ in alphabet.randomElement()! })
        }
        let token = secret("tok"), envKey = secret("env"), fileKey = secret("fil")
        let scratch = try TemporaryDirectory()
        let keys = try scratch.write("keys", Data("\(fileKey)\n".utf8))
        let serve = try ServeProcess(["--api-key-file", keys.path, "--metrics-port", "0", "--log-level", "trace", "--log-format", "json"],
                                     env: ["ADAPTER_SERVE_ADMIN_TOKEN": token, "ADAPTER_SERVE_API_KEYS": envKey], scratch: scratch)
        defer { serve.stop() }
        #expect(serve.waitUntilListening(), "\(serve.stderr)")
        let metricsPort = try #require(serve.metricsPort, "\(serve.stdout)")
        var bodies: [String] = []
        func check(_ status: Int, _ r: CurlResponse, _ note: String) {
            #expect(r.status == status, "\(note): \(r.text)")
            bodies.append(r.text)
        }
        func nearMisses(_ s: String) -> [String] {
            [String(s.dropLast()) + (s.last == "A" ? "B" : "A"), String(s.dropLast()), s + "x", "X" + s.dropFirst(), s.lowercased(), s.uppercased()]
        }
        for key in [envKey, fileKey, token] {
            check(200, try serve.call("POST", "/v1/summarize", json: Self.summarize, headers: ["Authorization: Bearer \(key)"]), "right key")
        }
        let misses = nearMisses(envKey) + nearMisses(fileKey) + nearMisses(token)
        for miss in misses {
            check(401, try serve.call("POST", "/v1/summarize", json: Self.summarize, headers: ["Authorization: Bearer \(miss)"]), "near miss")
            check(401, try serve.call("POST", "/v1/chat/completions", json: "{}", headers: ["Authorization: bearer \(miss)"]), "openai near miss")
        }
        for miss in nearMisses(token) + [envKey] {
            check(401, try serve.upload("a", headers: ["Authorization: Bearer \(miss)"]), "admin near miss")
        }
        check(201, try serve.upload("a", headers: ["Authorization: Bearer \(token)"]), "upload")
        check(200, try serve.call("POST", "/v1/adapters/a/activate", json: #"{"task": "t"}"#, headers: ["Authorization: Bearer \(token)"]), "activate")
        check(401, try serve.call("POST", "/v1/summarize", json: Self.summarize, headers: ["Authorization: Basic \(envKey)"]), "basic")
        let nul = try rawHTTP(port: serve.port!, Array("GET /v1/adapters HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(envKey)".utf8)
                              + [0] + Array("\(fileKey)\r\nConnection: close\r\n\r\n".utf8))
        #expect(nul.status == 400)   // the gate refuses a NUL in any header value
        bodies.append(nul.body)
        check(404, try serve.call("GET", "/metrics"), "main port /metrics")
        let metrics = try curl(["http://127.0.0.1:\(metricsPort)/metrics"])
        #expect(metrics.status == 200 && metrics.text.contains("adapterserve_requests_total"))
        kill(serve.process.processIdentifier, SIGHUP)
        var reloadLogged = false
        for _ in 0..<600 where !reloadLogged {
            reloadLogged = serve.stderr.contains("reloaded the API key file")
            if !reloadLogged { usleep(20_000) }
        }
        #expect(serve.stop() == 0)

        let log = serve.stdout + serve.stderr
        // The log really covers these calls: a vacuous grep would prove nothing.
        #expect(reloadLogged && log.contains(#""status":"401""#) && log.contains(#""status":"201""#) && log.contains("/v1/summarize"), "\(log.suffix(2000))")
        let everything = log + metrics.text + bodies.joined(separator: "\n")
        for s in [token, envKey, fileKey] + misses {
            #expect(!everything.contains(s), "\(s) leaked")
        }
        // Not even a fragment: no 8-character window of a secret appears anywhere.
        for s in [token, envKey, fileKey] {
            let chars = Array(s)
            for start in 0...(chars.count - 8) {
                let window = String(chars[start..<start + 8])
                #expect(!everything.contains(window), "a fragment of a secret leaked: \(window)")
            }
        }
    }
}

import Foundation
import HTTPCore
import HTTPTesting
import Testing
@testable import API
@testable import Serving

/// Issue 18 on a live in-process server: API keys on inference, the admin token, disabled
/// admin endpoints, OpenAI's error shape, /metrics on its own port.
@Suite(.serialized) struct AccessControlTests {
    static let key = "key-Alpha-7f3Q9"
    static let token = "adm-Token-k2P8x"
    static let lora = Paths.tinyAdapters.appendingPathComponent("lora-qv")
    static var summarize: [String: Any] { ["dialogue": "#Person1#: hi", "parameters": ["max_new_tokens": 2]] }

    func live(_ configure: (inout ServiceSettings) -> Void = { _ in }) throws -> LiveService {
        try LiveService {
            $0.access.apiKeys = [Self.key]
            $0.adminToken = Self.token
            configure(&$0)
        }
    }

    @Test func keysGuardInference() throws {
        let live = try live()
        defer { live.stop() }
        func post(_ auth: String?) throws -> CurlResponse {
            try live.call("POST", "/v1/summarize", json: Self.summarize, headers: auth.map { ["Authorization: \($0)"] } ?? [])
        }
        let missing = try post(nil)
        #expect(missing.status == 401 && missing.errorCode == "missing_api_key", "\(missing.text)")
        #expect(missing.headers["WWW-Authenticate"] == "Bearer")
        #expect(try post("Bearer \(Self.key)").status == 200)
        // The scheme is case-insensitive (RFC 7235); extra spaces after it are allowed.
        #expect(try post("bearer \(Self.key)").status == 200)
        #expect(try post("BEARER   \(Self.key)").status == 200)
        #expect(try post("Bearer \(Self.token)").status == 200, "the admin token also works as an API key")
        for wrong in [String(Self.key.dropLast()) + "X", String(Self.key.dropLast()), Self.key + "9", Self.key.lowercased()] {
            let r = try post("Bearer \(wrong)")
            #expect(r.status == 401 && r.errorCode == "invalid_api_key", "\(wrong): \(r.text)")
            #expect(!r.text.contains(wrong), "the error must not echo what was sent")
        }
        for malformed in ["Basic \(Self.key)", "Bearer", "Bearer a b", Self.key, "Bearer\(Self.key)"] {
            #expect(try post(malformed).status == 401, "\(malformed)")
        }
        // Every non-probe route needs a key, including reads and routes that do not exist.
        #expect(try live.call("POST", "/v1/evaluate", json: ["items": []]).status == 401)
        #expect(try live.call("GET", "/v1/adapters").status == 401)
        #expect(try live.call("GET", "/v1/adapters", headers: ["Authorization: Bearer \(Self.key)"]).status == 200)
        #expect(try live.call("GET", "/v2/anything").status == 401)
        for probe in ["/healthz", "/readyz", "/metrics"] {
            #expect(try live.call("GET", probe).status == 200, "\(probe) stays open")
        }
    }

    @Test func openAIPathsAnswerInOpenAIShape() throws {
        let live = try live()
        defer { live.stop() }
        // With the key each reaches its route: an empty body is a 400, the list a 200, and an
        // unknown model id a 404 (the tiny base is "tiny-flan").
        for (method, path, routed) in [("POST", "/v1/completions", 400), ("POST", "/v1/chat/completions", 400),
                                       ("GET", "/v1/models", 200), ("GET", "/v1/models/flan-t5-base", 404)] {
            let r = try live.call(method, path, headers: ["Authorization: Bearer nope"])
            #expect(r.status == 401, "\(path)")
            let error = try #require(r.json["error"] as? [String: Any], "\(r.text)")
            #expect(Set(error.keys) == ["message", "type", "param", "code"], "\(path): \(r.text)")
            #expect(error["type"] as? String == "invalid_request_error" && error["code"] as? String == "invalid_api_key")
            #expect(error["param"] is NSNull)
            #expect(try live.call(method, path, headers: ["Authorization: Bearer \(Self.key)"]).status == routed, "\(path)")
        }
        #expect(try live.call("GET", "/v1/models").json["error"].flatMap { ($0 as? [String: Any])?["code"] as? String } == "missing_api_key")
    }

    @Test func adminNeedsTheTokenNotAKey() throws {
        let live = try live()
        defer { live.stop() }
        #expect(try live.upload("a", from: Self.lora).status == 401)
        #expect(try live.upload("a", from: Self.lora, headers: ["Authorization: Bearer \(Self.key)"]).status == 401)
        #expect(try live.upload("a", from: Self.lora, headers: ["Authorization: bearer \(Self.token)"]).status == 201)
        let activate = ["task": "t"]
        #expect(try live.call("POST", "/v1/adapters/a/activate", json: activate, headers: ["Authorization: Bearer \(Self.key)"]).status == 401)
        #expect(try live.call("POST", "/v1/adapters/a/activate", json: activate, headers: ["Authorization: Bearer \(Self.token)"]).status == 200)
        #expect(try live.call("DELETE", "/v1/tasks/t", headers: ["Authorization: Bearer \(Self.token)x"]).status == 401)
        #expect(try live.call("DELETE", "/v1/tasks/t", headers: ["Authorization: Bearer \(Self.token)"]).status == 204)
        #expect(try live.call("DELETE", "/v1/adapters/a", headers: ["Authorization: Bearer \(Self.token)"]).status == 204)
    }

    /// Bytes curl will not send. libmicrohttpd cuts a header value at a NUL; the part after it
    /// must still make the request fail rather than vanish. The gate refuses a NUL or other
    /// control character in any header value (400 invalid_header) before authorization runs;
    /// a tab, which RFC 9110 allows inside a value, reaches authorization and is refused there.
    @Test func controlCharactersAndNULAreRefused() throws {
        let live = try live()
        defer { live.stop() }
        let port = live.server.boundPort
        func get(_ auth: [UInt8], lineEnd: String = "\r\n", authLast: Bool = false) throws -> (status: Int, body: String) {
            let e = Array(lineEnd.utf8)
            let authLine = Array("Authorization: ".utf8) + auth + e
            var request = Array("GET /v1/adapters HTTP/1.1".utf8) + e + Array("Host: 127.0.0.1".utf8) + e
            if !authLast { request += authLine }
            request += Array("Connection: close".utf8) + e
            if authLast { request += authLine }
            return try rawHTTP(port: port, request + e)
        }
        let good = Array("Bearer \(Self.key)".utf8)
        for lineEnd in ["\r\n", "\n"] {
            for authLast in [false, true] {
                // The same client gets in with a clean header, so each refusal below is the bytes.
                #expect(try get(good, lineEnd: lineEnd, authLast: authLast).status == 200, "\(lineEnd.debugDescription) \(authLast)")
                let hidden = try get(good + [0] + Array("junk".utf8), lineEnd: lineEnd, authLast: authLast)
                #expect(hidden.status == 400 && hidden.body.contains("invalid_header"), "\(lineEnd.debugDescription) \(authLast): \(hidden)")
                #expect(try get(good + [0, 0] + Array("x".utf8), lineEnd: lineEnd, authLast: authLast).status == 400)
            }
        }
        for bad: [UInt8] in [good + [0x01], good + [0x7F], Array("Bearer ".utf8) + [0x1B] + Array(Self.key.utf8)] {
            #expect(try get(bad).status == 400, "\(bad)")
        }
        for bad: [UInt8] in [Array("Bearer\t".utf8) + Array(Self.key.utf8), good + [0x09, 0x78]] {
            #expect(try get(bad).status == 401, "\(bad)")
        }
        // A body arriving with the headers must not be mistaken for hidden bytes, whatever the
        // line ends and however many empty lines a client sends before the request line.
        let body = Array(##"{"dialogue": "#Person1#: hi", "parameters": {"max_new_tokens": 2}}"##.utf8)
        for (e, lead) in [("\r\n", ""), ("\n", ""), ("\r\n", "\r\n\r\n"), ("\n", "\n")] {
            let head = "\(lead)POST /v1/summarize HTTP/1.1\(e)Host: x\(e)Content-Type: application/json\(e)Content-Length: \(body.count)\(e)"
                + "Connection: close\(e)Authorization: Bearer \(Self.key)\(e)\(e)"
            let r = try rawHTTP(port: port, Array(head.utf8) + body)
            #expect(r.status == 200, "\(e.debugDescription) lead \(lead.debugDescription): \(r)")
        }
        // The admin token is held to the same rule.
        let upload = Array("DELETE /v1/tasks/t HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)".utf8) + [0]
            + Array("tail\r\nConnection: close\r\n\r\n".utf8)
        #expect(try rawHTTP(port: port, upload).status == 400)
    }

    @Test func disabledAdminEndpointsAnswer405() throws {
        let live = try LiveService { $0.access.adminEndpoints = .disabled }
        defer { live.stop() }
        let put = try live.upload("a", from: Self.lora)
        #expect(put.status == 405 && put.errorCode == "admin_disabled", "\(put.text)")
        #expect(put.errorMessage?.contains("--admin-endpoints=disabled") == true)
        #expect(put.headers["Allow"] == "GET")
        let activate = try live.call("POST", "/v1/adapters/a/activate", json: ["task": "t"])
        #expect(activate.status == 405 && activate.errorCode == "admin_disabled")
        #expect(try live.call("DELETE", "/v1/adapters/a").status == 405)
        #expect(try live.call("DELETE", "/v1/tasks/t").status == 405)
        #expect(!FileManager.default.fileExists(atPath: live.adaptersDir.appendingPathComponent("a").path))
        // Reads and inference are untouched (and open: no keys configured).
        #expect(try live.call("GET", "/v1/adapters").status == 200)
        #expect(try live.call("POST", "/v1/summarize", json: Self.summarize).status == 200)
    }

    @Test func metricsMoveToTheirOwnPort() throws {
        let live = try live { $0.access.metricsPort = 0 }
        defer { live.stop() }
        let metricsPort = try #require(live.server.metricsBoundPort)
        #expect(metricsPort != 0 && metricsPort != live.server.boundPort)
        #expect(try live.call("POST", "/v1/summarize", json: Self.summarize, headers: ["Authorization: Bearer \(Self.key)"]).status == 200)
        let main = try live.call("GET", "/metrics")
        #expect(main.status == 404 && main.errorCode == "not_found")
        let metrics = try curl(["http://127.0.0.1:\(metricsPort)/metrics"])
        #expect(metrics.status == 200)
        #expect(metrics.text.contains(#"adapterserve_requests_total{endpoint="/v1/summarize""#), "\(metrics.text.prefix(500))")
        #expect(try curl(["http://127.0.0.1:\(metricsPort)/healthz"]).status == 404)
        #expect(try curl(["-X", "POST", "http://127.0.0.1:\(metricsPort)/metrics"]).status == 405)
        #expect(try live.call("GET", "/healthz").status == 200)
    }

    @Test func keyFileIsReadAtStartAndOnReload() throws {
        let scratch = try TemporaryDirectory()
        let file = try scratch.write("keys", Data("# rotated monthly\nfile-Key-one\n\n  file-Key-two  \r\n".utf8))
        let live = try LiveService { $0.access.apiKeyFile = file.path }
        defer { live.stop() }
        func status(_ key: String) throws -> Int {
            try live.call("GET", "/v1/adapters", headers: ["Authorization: Bearer \(key)"]).status
        }
        #expect(try status("file-Key-one") == 200 && status("file-Key-two") == 200)
        #expect(try status("# rotated monthly") == 401)
        try Data("file-Key-three\n".utf8).write(to: file)
        #expect(try status("file-Key-three") == 401, "read only on reload")
        #expect(try live.server.reloadAPIKeys() == 1)
        #expect(try status("file-Key-three") == 200 && status("file-Key-one") == 401)
        // A failed reload keeps the keys in force.
        try Data("ok-key\nbad key with spaces\n".utf8).write(to: file)
        #expect(throws: AccessError.self) { try live.server.reloadAPIKeys() }
        #expect(try status("file-Key-three") == 200)
        // An emptied file locks inference rather than opening it.
        try Data().write(to: file)
        try live.server.reloadAPIKeys()
        #expect(try live.call("GET", "/v1/adapters").status == 401)
    }

    @Test func unusableKeysStopTheStartWithoutShowingThem() throws {
        let scratch = try TemporaryDirectory()
        let missing = scratch.file("absent")
        let e1 = #expect(throws: AccessError.self) { try LiveService { $0.access.apiKeyFile = missing.path } }
        #expect(e1?.description.contains(missing.path) == true)
        let file = try scratch.write("keys", Data("fine-key\nsecret\u{7}bell\n".utf8))
        let e2 = #expect(throws: AccessError.self) { try LiveService { $0.access.apiKeyFile = file.path } }
        #expect(e2?.description.contains("line 2") == true && e2?.description.contains("secret") == false, "\(String(describing: e2))")
        let e3 = #expect(throws: AccessError.self) { try LiveService { $0.access.apiKeys = ["has space"] } }
        #expect(e3?.description.contains("has space") == false)
    }

    /// In-process: protected mode refuses before binding anything.
    @Test func protectedModeRefusesOpenAdminOffLoopback() throws {
        let e = #expect(throws: AccessError.self) { try LiveService { $0.host = "0.0.0.0" } }
        #expect(e?.description.contains("ADAPTER_SERVE_ADMIN_TOKEN") == true && e?.description.contains("--admin-endpoints=disabled") == true)
    }
}

@Suite struct ProtectedModeRuleTests {
    @Test(arguments: ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"])
    func loopback(_ host: String) { #expect(ProtectedMode.isLoopback(host)) }

    @Test(arguments: ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "192.168.1.5", "example.com", "::2", "::ffff:10.0.0.1", ""])
    func notLoopback(_ host: String) { #expect(!ProtectedMode.isLoopback(host)) }

    @Test func decisions() {
        var s = ServiceSettings()
        #expect(ProtectedMode.decide(s) == .safe, "the default bind is loopback")
        s.host = "0.0.0.0"
        guard case .refuse = ProtectedMode.decide(s) else { Issue.record("0.0.0.0 without a token must refuse"); return }
        s.access.allowOpenAdmin = true
        #expect(ProtectedMode.decide(s) == .openByRequest)
        s.access.adminEndpoints = .disabled
        #expect(ProtectedMode.decide(s) == .safe)
        s.access = AccessSettings()
        s.adminToken = "t"
        #expect(ProtectedMode.decide(s) == .safe)
        s.host = "127.0.0.1"
        s.adminToken = nil
        s.access.allowOpenAdmin = true
        #expect(ProtectedMode.decide(s) == .openByRequest, "asking for open mode is warned about on loopback too")
    }

    @Test func settingsFromConfigAndEnvironment() throws {
        let json = #"{"host": "0.0.0.0", "api_keys": ["a", "b"], "api_key_file": "/k", "admin_endpoints": "disabled", "allow_open_admin": true, "metrics_port": 9100}"#
        var s = try JSONDecoder().decode(ServiceSettings.self, from: Data(json.utf8))
        #expect(s.access.apiKeys == ["a", "b"] && s.access.apiKeyFile == "/k" && s.access.adminEndpoints == .disabled)
        #expect(s.access.allowOpenAdmin && s.access.metricsPort == 9100)
        try s.apply(environment: ["ADAPTER_SERVE_API_KEYS": " x, y,,z ", "ADAPTER_SERVE_ADMIN_ENDPOINTS": "enabled",
                                  "ADAPTER_SERVE_METRICS_PORT": "0", "ADAPTER_SERVE_ALLOW_OPEN_ADMIN": "false"])
        #expect(s.access.apiKeys == ["x", "y", "z"] && s.access.adminEndpoints == .enabled && s.access.metricsPort == 0 && !s.access.allowOpenAdmin)
        #expect(throws: ServiceError.self) { try s.apply(environment: ["ADAPTER_SERVE_ADMIN_ENDPOINTS": "maybe"]) }
        #expect(try JSONDecoder().decode(ServiceSettings.self, from: Data("{}".utf8)).access == AccessSettings())
    }
}

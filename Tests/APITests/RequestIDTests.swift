import Foundation
import HTTPTesting
import Logging
import Testing
@testable import API
@testable import Serving

/// Request ids: a safe client id is echoed, anything else replaced; the id is on the request's
/// log line, written by the JSON log handler as one object per line.
@Suite(.serialized) struct RequestIDTests {
    @Test func safeIdsAreEchoedAndOthersReplaced() throws {
        let live = try LiveService()
        defer { live.stop() }
        let given = "trace-01.AbC_z"
        #expect(try live.call("GET", "/healthz", headers: ["X-Request-Id: \(given)"]).headers["X-Request-Id"] == given)
        let longest = String(repeating: "a", count: 128)
        #expect(try live.call("GET", "/healthz", headers: ["X-Request-Id: \(longest)"]).headers["X-Request-Id"] == longest)
        for bad in [String(repeating: "a", count: 129), "has space", "semi;colon", "ünï"] {
            let res = try live.call("GET", "/v1/adapters/missing", headers: ["X-Request-Id: \(bad)"])
            let id = try #require(res.headers["X-Request-Id"])
            #expect(id != bad && id.count == 32 && id.allSatisfy(\.isHexDigit), "\(bad) -> \(id)")
        }
        let a = try live.call("POST", "/v1/completions", json: ["model": "nope", "prompt": "x"]).headers["X-Request-Id"]
        let b = try live.call("POST", "/v1/completions", json: ["model": "nope", "prompt": "x"]).headers["X-Request-Id"]
        #expect(a != nil && b != nil && a != b)
    }

    @Test func jsonLogLinesCarryTheRequestID() throws {
        let scratch = try TemporaryDirectory()
        let logFile = scratch.file("log.jsonl")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let sink = JSONLineSink(handle: try FileHandle(forWritingTo: logFile))
        let logger = Logger(label: "json-test") { label in
            JSONLogHandler(label: label, metadataProvider: RequestID.metadataProvider, sink: sink)
        }
        var s = ServiceSettings()
        s.model = Paths.tinyFlan.path
        s.tokenizer = Paths.tokenizer.path
        s.adapters = scratch.url.appendingPathComponent("adapters").path
        s.port = 0
        let service = try AdapterServeService(settings: s, logger: logger)
        let server = APIServer(service: service, logger: logger)
        try server.start()
        let res = try curl(["-X", "POST", "-H", "X-Request-Id: req-42", "--data-binary",
                            #"{"model": "base", "prompt": "Hello world", "max_tokens": 2}"#,
                            "http://127.0.0.1:\(server.boundPort)/v1/completions"])
        let dir = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        let upload = try curl(["-X", "PUT", "-H", "X-Request-Id: up-7",
                               "-F", "adapter_config.json=@\(dir.appendingPathComponent("adapter_config.json").path)",
                               "-F", "adapter_model.safetensors=@\(dir.appendingPathComponent("adapter_model.safetensors").path)",
                               "http://127.0.0.1:\(server.boundPort)/v1/adapters/lq"])
        server.drainAndStop()
        #expect(upload.status == 201)
        #expect(res.status == 200 && res.headers["X-Request-Id"] == "req-42")
        let lines = try String(contentsOf: logFile, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let request = try #require(objects.first { $0["message"] as? String == "request" })
        #expect(request["request_id"] as? String == "req-42")
        #expect(request["endpoint"] as? String == "/v1/completions" && request["status"] as? String == "200")
        #expect(request["adapter"] as? String == "base" && request["output_tokens"] as? String == "2")
        #expect(request["level"] as? String == "info" && request["label"] as? String == "json-test")
        #expect((request["ts"] as? String)?.hasSuffix("Z") == true)
        // Logged on the engine thread, where the upload is stored in order with generations.
        let stored = try #require(objects.first { $0["message"] as? String == "stored adapter" })
        #expect(stored["request_id"] as? String == "up-7" && stored["adapter"] as? String == "lq")
    }

    /// Lines logged while a request is bound get its id from the metadata provider; others do not.
    @Test func metadataProviderFollowsTheBoundRequest() throws {
        let scratch = try TemporaryDirectory()
        let logFile = scratch.file("log.jsonl")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let sink = JSONLineSink(handle: try FileHandle(forWritingTo: logFile))
        var logger = Logger(label: "p") { JSONLogHandler(label: $0, metadataProvider: RequestID.metadataProvider, sink: sink) }
        logger[metadataKey: "component"] = "test"
        RequestID.with("bound-1") { logger.info("inside", metadata: ["n": "1"]) }
        logger.warning("outside")
        let objects = try String(contentsOf: logFile, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count == 2)
        #expect(objects[0]["request_id"] as? String == "bound-1" && objects[0]["n"] as? String == "1" && objects[0]["component"] as? String == "test")
        #expect(objects[1]["request_id"] == nil && objects[1]["level"] as? String == "warning" && objects[1]["message"] as? String == "outside")
    }
}

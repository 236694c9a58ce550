import Foundation
import HTTPTesting
import Testing
@testable import Serving

/// Every endpoint against a live server (port 0) on the tiny fixture model, checked against the
/// committed transformers/PEFT outputs.
@Suite(.serialized) struct EndpointTests {
    func summarizeBody(_ r: Reference, adapter: Any? = nil, task: String? = nil) -> [String: Any] {
        var body: [String: Any] = ["dialogue": r.dialogue!, "parameters": r.params, "return_token_ids": true]
        if let adapter { body["adapter"] = adapter }
        if let task { body["task"] = task }
        return body
    }

    @Test func healthReadinessAndMetrics() throws {
        let live = try LiveService()
        defer { live.stop() }
        let health = try live.call("GET", "/healthz")
        #expect(health.status == 200 && health.json["status"] as? String == "ok")
        #expect(try live.call("GET", "/readyz").status == 200)
        _ = try live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Hi.", "parameters": ["max_new_tokens": 3]])
        let metrics = try live.call("GET", "/metrics")
        #expect(metrics.status == 200)
        for name in ["adapterserve_requests_total", "adapterserve_request_duration_seconds", "adapterserve_tokens_generated_total",
                     "adapterserve_queue_depth", "adapterserve_decode_batch_size", "adapterserve_adapters_loaded",
                     "adapterserve_adapter_bytes", "adapterserve_adapter_loads", "adapterserve_adapter_evictions"] {
            #expect(metrics.text.contains(name), "missing metric \(name)")
        }
        #expect(metrics.text.contains(#"endpoint="/v1/summarize""#))
    }

    @Test func baseModelSummariesMatchTransformers() throws {
        let live = try LiveService()
        defer { live.stop() }
        let cases = Reference.summarizable(adapters: [])
        try #require(!cases.isEmpty)
        for r in cases {
            let res = try live.call("POST", "/v1/summarize", json: summarizeBody(r))
            #expect(res.status == 200, "\(r.id): \(res.text)")
            #expect(res.tokenIDs == r.tokenIDs, "\(r.id)")
            #expect(res.json["adapter"] is NSNull && res.headers["X-Adapter"] == "base")
            let usage = res.json["usage"] as? [String: Any]
            #expect(usage?["output_tokens"] as? Int == r.tokenIDs.count)
            #expect((res.json["timing_ms"] as? [String: Any])?["total"] is Double)
            #expect(res.json["summary"] is String)
        }
    }

    @Test func uploadedAdaptersServeExactlyWhatPEFTGives() throws {
        let live = try LiveService()
        defer { live.stop() }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Paths.tinyAdapters.path))?.sorted() ?? []
        try #require(!names.isEmpty)
        for name in names {
            let up = try live.upload(name, from: Paths.tinyAdapters.appendingPathComponent(name))
            #expect(up.status == 201, "\(name): \(up.text)")
            #expect(up.json["name"] as? String == name && (up.json["sha256"] as? String)?.count == 64)
            #expect(up.json["parameter_count"] as? Int ?? 0 > 0 && up.json["created_at"] is String)
            for r in Reference.summarizable(adapters: [name]) {
                let res = try live.call("POST", "/v1/summarize", json: summarizeBody(r, adapter: name))
                #expect(res.status == 200, "\(r.id): \(res.text)")
                #expect(res.tokenIDs == r.tokenIDs, "\(name)/\(r.id)")
                #expect(res.adapterName == name && res.headers["X-Adapter"] == name)
                #expect(res.adapterSHA == up.json["sha256"] as? String)
            }
        }
        // Stacked LoRA + soft prompt, as the fixture's combined cases.
        for r in Reference.all() where r.adapters.count == 2 && r.dialogue != nil {
            let res = try live.call("POST", "/v1/summarize", json: summarizeBody(r, adapter: r.adapters))
            #expect(res.status == 200 && res.tokenIDs == r.tokenIDs, "\(r.id): \(res.text)")
        }
        let list = try live.call("GET", "/v1/adapters")
        #expect((list.json["adapters"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == names)
        let one = try live.call("GET", "/v1/adapters/\(names[0])")
        #expect(one.status == 200 && one.json["name"] as? String == names[0])
    }

    @Test func tarAndTarGzUploads() throws {
        let live = try LiveService()
        defer { live.stop() }
        let source = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        let scratch = try TemporaryDirectory()
        for (name, flags) in [("from-tar", "-cf"), ("from-tgz", "-czf")] {
            let archive = scratch.file("\(name).archive")
            try runProcess("/usr/bin/tar", [flags, archive.path, "-C", source.deletingLastPathComponent().path, "lora-qv"])
            let res = try live.call("PUT", "/v1/adapters/\(name)", body: try Data(contentsOf: archive),
                                    headers: ["Content-Type: application/gzip", "Expect:"])
            #expect(res.status == 201, "\(name): \(res.text)")
        }
    }

    @Test func conflictReplaceActivateAndDelete() throws {
        let live = try LiveService()
        defer { live.stop() }
        let lora = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        let other = Paths.tinyAdapters.appendingPathComponent("lora-all-rslora")
        let first = try live.upload("support", from: lora)
        #expect(first.status == 201)
        let again = try live.upload("support", from: other)
        #expect(again.status == 409 && again.errorCode == "adapter_exists")
        let replaced = try live.upload("support", from: other, query: "?replace=true")
        #expect(replaced.status == 201 && replaced.json["sha256"] as? String != first.json["sha256"] as? String)

        let act = try live.call("POST", "/v1/adapters/support/activate", json: ["task": "dialogsum"])
        #expect(act.status == 200, "\(act.text)")
        let tasks = try live.call("GET", "/v1/tasks")
        #expect((tasks.json["tasks"] as? [[String: String]]) == [["task": "dialogsum", "adapter": "support"]])
        let viaTask = try live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Hello.", "task": "dialogsum",
                                                                  "parameters": ["max_new_tokens": 4]])
        #expect(viaTask.adapterName == "support" && viaTask.json["task"] as? String == "dialogsum")

        let blocked = try live.call("DELETE", "/v1/adapters/support")
        #expect(blocked.status == 409 && blocked.errorCode == "adapter_in_use")
        #expect(try live.call("DELETE", "/v1/adapters/support?force=true").status == 204)
        #expect(try live.call("GET", "/v1/adapters/support").status == 404)
        #expect((try live.call("GET", "/v1/tasks").json["tasks"] as? [Any])?.isEmpty == true)
        #expect(!FileManager.default.fileExists(atPath: live.adaptersDir.appendingPathComponent("support").path))

        #expect(try live.upload("again", from: lora).status == 201)
        #expect(try live.call("POST", "/v1/adapters/again/activate", json: ["task": "t2"]).status == 200)
        #expect(try live.call("DELETE", "/v1/tasks/t2").status == 204)
        #expect(try live.call("DELETE", "/v1/tasks/t2").status == 404)
    }

    @Test func defaultTaskRoutingAndItsFallback() throws {
        let live = try LiveService { $0.defaultTask = "dialogsum" }
        defer { live.stop() }
        let body: [String: Any] = ["dialogue": "#Person1#: Hello there.", "parameters": ["max_new_tokens": 4]]
        #expect(try live.call("POST", "/v1/summarize", json: body).json["adapter"] is NSNull)
        #expect(try live.upload("d", from: Paths.tinyAdapters.appendingPathComponent("lora-qv")).status == 201)
        #expect(try live.call("POST", "/v1/adapters/d/activate", json: ["task": "dialogsum"]).status == 200)
        let routed = try live.call("POST", "/v1/summarize", json: body)
        #expect(routed.adapterName == "d" && routed.json["task"] as? String == "dialogsum")
        var explicit = body; explicit["adapter"] = "d"
        #expect(try live.call("POST", "/v1/summarize", json: explicit).adapterName == "d")
        #expect(try live.call("POST", "/v1/summarize", json: body.merging(["task": "nope"]) { $1 }).status == 404)
    }

    @Test func routesAndAdaptersSurviveARestart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapters-\(UUID().uuidString)")
        let first = try LiveService(adaptersDir: dir)
        #expect(try first.upload("keep", from: Paths.tinyAdapters.appendingPathComponent("prompt-20")).status == 201)
        #expect(try first.call("POST", "/v1/adapters/keep/activate", json: ["task": "notes"]).status == 200)
        let sha = try first.call("GET", "/v1/adapters/keep").json["sha256"] as? String
        first.stop()
        let second = try LiveService(adaptersDir: dir)
        defer { second.stop() }
        #expect((try second.call("GET", "/v1/tasks").json["tasks"] as? [[String: String]]) == [["task": "notes", "adapter": "keep"]])
        let res = try second.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Hi.", "task": "notes", "parameters": ["max_new_tokens": 2]])
        #expect(res.adapterSHA == sha)
        #expect(try second.call("GET", "/readyz").status == 200)
    }

    @Test func adminTokenGuardsChanges() throws {
        let live = try LiveService { $0.adminToken = "s3cret" }
        defer { live.stop() }
        let lora = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        #expect(try live.upload("a", from: lora).status == 401)
        #expect(try live.upload("a", from: lora, headers: ["Authorization: Bearer wrong"]).status == 401)
        #expect(try live.upload("a", from: lora, headers: ["Authorization: Bearer s3cret"]).status == 201)
        #expect(try live.call("POST", "/v1/adapters/a/activate", json: ["task": "x"]).status == 401)
        #expect(try live.call("DELETE", "/v1/adapters/a").status == 401)
        #expect(try live.call("GET", "/v1/adapters").status == 200)
        #expect(try live.call("DELETE", "/v1/adapters/a", headers: ["Authorization: Bearer s3cret"]).status == 204)
    }

    @Test func damagedAdaptersDirectoryIsSkippedNotDeleted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapters-\(UUID().uuidString)")
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("good"), withIntermediateDirectories: true)
        for f in ["adapter_config.json", "adapter_model.safetensors"] {
            try fm.copyItem(at: Paths.tinyAdapters.appendingPathComponent("lora-qv/\(f)"), to: dir.appendingPathComponent("good/\(f)"))
        }
        try fm.createDirectory(at: dir.appendingPathComponent("truncated"), withIntermediateDirectories: true)
        try fm.copyItem(at: Paths.tinyAdapters.appendingPathComponent("lora-qv/adapter_config.json"), to: dir.appendingPathComponent("truncated/adapter_config.json"))
        let weights = try Data(contentsOf: Paths.tinyAdapters.appendingPathComponent("lora-qv/adapter_model.safetensors"))
        try weights.prefix(weights.count / 2).write(to: dir.appendingPathComponent("truncated/adapter_model.safetensors"))
        try fm.createDirectory(at: dir.appendingPathComponent("garbage"), withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: dir.appendingPathComponent("garbage/adapter_config.json"))
        let live = try LiveService(adaptersDir: dir)
        defer { live.stop() }
        #expect((try live.call("GET", "/v1/adapters").json["adapters"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["good"])
        #expect(Set(live.service.skippedAdapters.keys) == ["truncated", "garbage"])
        #expect(fm.fileExists(atPath: dir.appendingPathComponent("truncated/adapter_model.safetensors").path))
        #expect(fm.fileExists(atPath: dir.appendingPathComponent("garbage/adapter_config.json").path))
    }
}

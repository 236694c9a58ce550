import Foundation
import SafeTensors
import HTTPTesting
import Numerics
import Testing

/// What careless or hostile clients send: each gets a 4xx with the one JSON error shape, nothing
/// stored is lost, and the server keeps serving.
@Suite(.serialized) struct BadInputTests {
    func expectError(_ r: CurlResponse, _ status: Int, _ code: String? = nil, _ label: String) {
        #expect(r.status == status, "\(label): got \(r.status) \(r.text)")
        #expect(r.errorMessage?.isEmpty == false, "\(label): no JSON error body: \(r.text)")
        if let code { #expect(r.errorCode == code, "\(label): code \(r.errorCode ?? "nil")") }
    }

    func stillServing(_ live: LiveService) throws {
        let r = try live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Still there?", "parameters": ["max_new_tokens": 2]])
        #expect(r.status == 200)
    }

    @Test func summarizeBodies() throws {
        let live = try LiveService { $0.maxInputTokens = 64 }
        defer { live.stop() }
        let raw: [(String, Data, Int, String?)] = [
            ("malformed JSON", Data("{\"dialogue\": ".utf8), 400, "malformed_json"),
            ("not an object", Data("[1,2]".utf8), 400, "malformed_json"),
            ("trailing comma", Data("{\"dialogue\": \"x\",}".utf8), 400, "malformed_json"),
            ("trailing comma in an array", Data("{\"dialogue\": \"x\", \"stop\": [\"a\",]}".utf8), 400, "malformed_json"),
            ("NaN literal", Data("{\"dialogue\": \"x\", \"parameters\": {\"temperature\": NaN}}".utf8), 400, "malformed_json"),
            ("deep nesting", Data((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8), 400, "malformed_json"),
            ("empty body", Data(), 400, "invalid_request"),
            ("invalid UTF-8", Data([0x7B, 0x22, 0x64, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D]), 400, "invalid_utf8"),
        ]
        for (label, body, status, code) in raw {
            expectError(try live.call("POST", "/v1/summarize", body: body, headers: ["Content-Type: application/json"]), status, code, label)
        }
        let comma = try live.call("POST", "/v1/summarize", body: Data("{\"dialogue\": \"x\",}".utf8), headers: ["Content-Type: application/json"])
        #expect(comma.errorMessage?.contains("trailing comma at byte 17") == true, "the 400 says what and where: \(comma.text)")
        let bodies: [(String, [String: Any], Int, String?)] = [
            ("missing dialogue", ["parameters": [:]], 400, nil),
            ("dialogue not a string", ["dialogue": 5], 400, nil),
            ("unknown field", ["dialogue": "x", "dialog": "y"], 400, nil),
            ("parameters not an object", ["dialogue": "x", "parameters": 3], 400, nil),
            ("num_beams a string", ["dialogue": "x", "parameters": ["num_beams": "4"]], 400, nil),
            ("num_beams fractional", ["dialogue": "x", "parameters": ["num_beams": 2.5]], 400, nil),
            ("do_sample a number", ["dialogue": "x", "parameters": ["do_sample": 1]], 400, nil),
            ("unknown parameter", ["dialogue": "x", "parameters": ["max_tokens": 5]], 400, nil),
            ("max_new_tokens over cap", ["dialogue": "x", "parameters": ["max_new_tokens": 100_000]], 422, "invalid_parameters"),
            ("negative temperature", ["dialogue": "x", "parameters": ["do_sample": true, "temperature": -1]], 422, "invalid_parameters"),
            ("template without slot", ["dialogue": "x", "prompt_template": "Summarize"], 422, "invalid_prompt_template"),
            ("input too long", ["dialogue": String(repeating: "word ", count: 200)], 422, "input_too_long"),
            ("unknown adapter", ["dialogue": "x", "adapter": "nope"], 404, "adapter_not_found"),
            ("unknown task", ["dialogue": "x", "task": "nope"], 404, "task_not_found"),
            ("adapter wrong type", ["dialogue": "x", "adapter": 7], 400, nil),
            ("return_token_ids not bool", ["dialogue": "x", "return_token_ids": "yes"], 400, nil),
        ]
        for (label, body, status, code) in bodies {
            expectError(try live.call("POST", "/v1/summarize", json: body), status, code, label)
        }
        let tooLong = try live.call("POST", "/v1/summarize", json: ["dialogue": String(repeating: "word ", count: 200)])
        #expect(tooLong.errorMessage?.contains("64") == true, "the 422 names the limit")
        expectError(try live.call("GET", "/v1/summarize"), 405, "method_not_allowed", "GET summarize")
        expectError(try live.call("GET", "/nope"), 404, "not_found", "unknown path")
        try stillServing(live)
    }

    @Test func oversizedBody() throws {
        let live = try LiveService { $0.maxBodyBytes = 1 << 16 }
        defer { live.stop() }
        let big = Data(repeating: 0x61, count: 1 << 17)
        expectError(try live.call("POST", "/v1/summarize", body: big, headers: ["Content-Type: application/json"]), 413, nil, "oversized")
        try stillServing(live)
    }

    /// Writes an adapter directory whose safetensors bytes are `weights`.
    func adapterDir(config: Data? = nil, weights: Data) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cfg = try config ?? Data(contentsOf: Paths.tinyAdapters.appendingPathComponent("lora-qv/adapter_config.json"))
        try cfg.write(to: dir.appendingPathComponent("adapter_config.json"))
        try weights.write(to: dir.appendingPathComponent("adapter_model.safetensors"))
        return dir
    }

    static func safetensors(header: String, data: [UInt8]) -> Data {
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        return d + Data(header.utf8) + Data(data)
    }

    @Test func hostileAdapterUploads() throws {
        let live = try LiveService()
        defer { live.stop() }
        // Something stored first, which no bad upload may disturb.
        let good = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        let stored = try live.upload("stored", from: good)
        #expect(stored.status == 201)
        let real = try Data(contentsOf: good.appendingPathComponent("adapter_model.safetensors"))
        let st = try SafeTensors(data: real)
        let anyName = st.tensors.keys.sorted()[0]
        let info = st.tensors[anyName]!

        var cases: [(String, URL, String?)] = [
            ("truncated safetensors", try adapterDir(weights: real.prefix(real.count - 10)), nil),
            ("header length beyond file", try adapterDir(weights: Self.safetensors(header: "{}", data: []).prefix(8) + Data(repeating: 0xFF, count: 4)), nil),
            ("overlapping offsets", try adapterDir(weights: Self.safetensors(
                header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                data: Array(repeating: 0, count: 12))), nil),
            ("out-of-range offsets", try adapterDir(weights: Self.safetensors(
                header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0])), nil),
            ("wrong dtype", try adapterDir(weights: Self.safetensors(
                header: "{\"\(anyName)\":{\"dtype\":\"I32\",\"shape\":\(info.shape),\"data_offsets\":[0,\(info.elementCount * 4)]}}",
                data: Array(repeating: 0, count: info.elementCount * 4))), nil),
            ("shape mismatch", try adapterDir(weights: try SafeTensorsWriter.serialize(st.tensors.values.map { i in
                let v = try st.floats(i)
                return i.name == anyName ? .f32(i.name, shape: [i.shape[0] + 1, i.shape[1]], values: v + Array(repeating: 0, count: i.shape[1]))
                                         : .f32(i.name, shape: i.shape, values: v)
            })), "adapter_base_mismatch"),
            ("config not JSON", try adapterDir(config: Data("nope".utf8), weights: real), "invalid_adapter"),
            ("unsupported config", try adapterDir(config: Data(#"{"peft_type":"LORA","task_type":"SEQ_2_SEQ_LM","r":8,"target_modules":["q","v"],"modules_to_save":["lm_head"]}"#.utf8), weights: real), "unsupported_adapter"),
        ]
        // PEFT's default prefix sizes (num_layers from the encoder's 2) do not fit the 3-layer decoder.
        cases.append(("prefix tuning with PEFT's default sizes", try adapterDir(config: Data(#"{"peft_type":"PREFIX_TUNING","task_type":"SEQ_2_SEQ_LM","num_virtual_tokens":4}"#.utf8), weights: real), "adapter_base_mismatch"))
        for (label, dir, code) in cases {
            let r = try live.upload("victim", from: dir)
            #expect((400..<500).contains(r.status), "\(label): \(r.status) \(r.text)")
            #expect(r.errorMessage != nil, "\(label): \(r.text)")
            if let code { #expect(r.errorCode == code, "\(label): \(r.errorCode ?? "nil")") }
            let replaced = try live.upload("stored", from: dir, query: "?replace=true")
            #expect((400..<500).contains(replaced.status), "\(label) as a replacement: \(replaced.status)")
        }
        #expect(try live.call("GET", "/v1/adapters/victim").status == 404)
        let after = try live.call("GET", "/v1/adapters/stored")
        #expect(after.json["sha256"] as? String == stored.json["sha256"] as? String)
        let stillThere = try Data(contentsOf: live.adaptersDir.appendingPathComponent("stored/adapter_model.safetensors"))
        #expect(stillThere == real)

        // Multipart without the files, and bodies that are neither multipart nor tar.
        let noFiles = try curl(["-X", "PUT", "-F", "other=@\(good.appendingPathComponent("adapter_config.json").path)", live.base + "/v1/adapters/x"])
        #expect(noFiles.status == 400 && noFiles.errorMessage?.contains("adapter_model.safetensors") == true)
        expectError(try live.call("PUT", "/v1/adapters/x", body: Data("garbage".utf8)), 400, nil, "garbage body")
        try stillServing(live)
    }

    @Test func traversalAndBadNames() throws {
        let live = try LiveService()
        defer { live.stop() }
        let good = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        for name in ["..", ".", "a%2Fb", "%2E%2E", ".adapter-serve", String(repeating: "n", count: 65), "bad%20name", "caf%C3%A9"] {
            let r = try live.upload(name, from: good)
            #expect((400..<500).contains(r.status), "\(name): \(r.status)")
        }
        let parent = live.adaptersDir.deletingLastPathComponent()
        #expect(!FileManager.default.fileExists(atPath: parent.appendingPathComponent("adapter_config.json").path))
        try stillServing(live)
    }

    @Test func hostileTarArchives() throws {
        let live = try LiveService()
        defer { live.stop() }
        let scratch = try TemporaryDirectory()
        let src = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        let work = scratch.file("work")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: src.appendingPathComponent("adapter_config.json"), to: work.appendingPathComponent("a/adapter_config.json"))
        try FileManager.default.copyItem(at: src.appendingPathComponent("adapter_model.safetensors"), to: work.appendingPathComponent("adapter_model.safetensors"))
        try FileManager.default.createSymbolicLink(atPath: work.appendingPathComponent("a/adapter_model.safetensors").path, withDestinationPath: "/etc/passwd")
        let dotdot = scratch.file("dotdot.tar"), symlink = scratch.file("symlink.tar")
        // GNU tar strips "../" itself, so the hostile archive is written block by block.
        var builder = TarBuilder()
        builder.entry("adapter_config.json", content: try Data(contentsOf: src.appendingPathComponent("adapter_config.json")))
        builder.entry("../adapter_model.safetensors", content: try Data(contentsOf: src.appendingPathComponent("adapter_model.safetensors")))
        builder.end()
        try builder.data.write(to: dotdot)
        try runProcess("/usr/bin/tar", ["-cf", symlink.path, "-C", work.path, "a/adapter_config.json", "a/adapter_model.safetensors"])
        for (label, file) in [("dot-dot entry", dotdot), ("symlink entry", symlink)] {
            let r = try live.call("PUT", "/v1/adapters/evil", body: try Data(contentsOf: file), headers: ["Content-Type: application/x-tar", "Expect:"])
            expectError(r, 400, "unsafe_tar_entry", label)
        }
        #expect(try live.call("GET", "/v1/adapters/evil").status == 404)
        try stillServing(live)
    }
}

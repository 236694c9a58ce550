import Foundation
import HTTPTesting
import Testing
@testable import Serving

/// The OpenAI-compatible endpoints with curl against a live server (port 0) on the tiny model,
/// checked against the committed transformers/PEFT outputs: the prompt is the encoder input as
/// given, so a completion of a reference's text must produce the reference's tokens.
@Suite(.serialized) struct OpenAIEndpointTests {
    /// Reference cases expressible with OpenAI's parameters (greedy or beam, max tokens).
    static func openAICases(adapters: [String]) -> [Reference] {
        Reference.all().filter { $0.adapters == adapters && Set($0.params.keys).isSubset(of: ["max_new_tokens", "num_beams"]) }
    }

    static func body(_ r: Reference, model: String) -> [String: Any] {
        var b: [String: Any] = ["model": model, "prompt": r.text, "temperature": 0, "max_tokens": r.params["max_new_tokens"] as! Int]
        if let beams = r.params["num_beams"] { b["num_beams"] = beams }
        return b
    }

    func expectMatches(_ res: CurlResponse, _ r: Reference, live: LiveService, model: String, adapter: String) {
        #expect(res.status == 200, "\(r.id): \(res.text)")
        let choice = (res.json["choices"] as? [[String: Any]])?.first
        #expect(choice?["text"] as? String == live.service.tokenizer.decode(r.tokenIDs), "\(r.id)")
        #expect(choice?["finish_reason"] as? String == (r.tokenIDs.last == 1 ? "stop" : "length"), "\(r.id)")
        let usage = res.json["usage"] as? [String: Int]
        #expect(usage?["completion_tokens"] == r.tokenIDs.count, "\(r.id)")
        #expect(usage?["prompt_tokens"] == live.service.tokenizer.encode(r.text).count, "\(r.id)")
        #expect(usage?["total_tokens"] == (usage?["prompt_tokens"] ?? 0) + (usage?["completion_tokens"] ?? 0))
        #expect(res.json["model"] as? String == model && res.headers["X-Adapter"] == adapter, "\(r.id)")
        #expect(res.json["object"] as? String == "text_completion" && (res.json["id"] as? String)?.hasPrefix("cmpl-") == true)
        #expect(res.json["created"] is Int)
    }

    @Test func baseCompletionsMatchTransformers() throws {
        let live = try LiveService()
        defer { live.stop() }
        let cases = Self.openAICases(adapters: [])
        try #require(cases.contains { $0.id == "empty" } && cases.contains { $0.num_beams })
        for r in cases {
            for model in ["base", "tiny-flan"] {
                expectMatches(try live.call("POST", "/v1/completions", json: Self.body(r, model: model)), r,
                              live: live, model: "tiny-flan", adapter: "base")
            }
        }
    }

    @Test func everyAdapterKindAsModelMatchesPEFT() throws {
        let live = try LiveService()
        defer { live.stop() }
        let names = try FileManager.default.contentsOfDirectory(atPath: Paths.tinyAdapters.path).sorted()
        for name in names {
            #expect(try live.upload(name, from: Paths.tinyAdapters.appendingPathComponent(name)).status == 201)
            let cases = Self.openAICases(adapters: [name])
            try #require(!cases.isEmpty)
            for r in cases {
                expectMatches(try live.call("POST", "/v1/completions", json: Self.body(r, model: name)), r,
                              live: live, model: name, adapter: name)
            }
        }
        for r in Reference.all() where r.adapters.count == 2 {
            let model = r.adapters.joined(separator: "+")
            expectMatches(try live.call("POST", "/v1/completions", json: Self.body(r, model: model)), r, live: live, model: model, adapter: model)
        }
    }

    /// A task name serves its active adapter and reports it; "base" stays the base model even
    /// when a default task routes requests that name nothing to an adapter.
    @Test func taskAsModelAndBaseDespiteDefaultTask() throws {
        let live = try LiveService { $0.defaultTask = "dialogsum" }
        defer { live.stop() }
        #expect(try live.upload("support", from: Paths.tinyAdapters.appendingPathComponent("lora-qv")).status == 201)
        #expect(try live.call("POST", "/v1/adapters/support/activate", json: ["task": "dialogsum"]).status == 200)
        let lora = try #require(Self.openAICases(adapters: ["lora-qv"]).first)
        expectMatches(try live.call("POST", "/v1/completions", json: Self.body(lora, model: "dialogsum")), lora,
                      live: live, model: "support", adapter: "support")
        let base = try #require(Self.openAICases(adapters: []).first)
        expectMatches(try live.call("POST", "/v1/completions", json: Self.body(base, model: "base")), base,
                      live: live, model: "tiny-flan", adapter: "base")
    }

    /// The chat's encoder input is the contents joined by a blank line: the same as a completion of that text.
    @Test func chatEqualsCompletionOfJoinedContents() throws {
        let live = try LiveService()
        defer { live.stop() }
        let first = "Summarize the following conversation.", second = "#Person1#: Hi.\n#Person2#: Hello."
        let chat = try live.call("POST", "/v1/chat/completions", json: [
            "model": "base", "temperature": 0, "max_tokens": 12,
            "messages": [["role": "system", "content": first], ["role": "user", "content": [["type": "text", "text": second]]]]])
        #expect(chat.status == 200, "\(chat.text)")
        let summarize = try live.call("POST", "/v1/summarize", json: [
            "dialogue": first + "\n\n" + second, "prompt_template": "{dialogue}", "return_token_ids": true,
            "parameters": ["max_new_tokens": 12]])
        let choice = (chat.json["choices"] as? [[String: Any]])?.first
        let message = choice?["message"] as? [String: Any]
        #expect(message?["role"] as? String == "assistant")
        #expect(message?["content"] as? String == summarize.json["summary"] as? String)
        #expect((chat.json["usage"] as? [String: Int])?["completion_tokens"] == summarize.tokenIDs.count)
        #expect(chat.json["object"] as? String == "chat.completion" && (chat.json["id"] as? String)?.hasPrefix("chatcmpl-") == true)
    }

    @Test func stopSequencesCutTheTextAndCountTokensToTheStop() throws {
        let live = try LiveService()
        defer { live.stop() }
        let r = try #require(Reference.all().first { $0.id == "hello" })
        let full = live.service.tokenizer.decode(r.tokenIDs)
        // The text of the first few tokens: a stop sequence just after it ends the choice there.
        let k = 5
        let prefix = live.service.tokenizer.decode(Array(r.tokenIDs.prefix(k)))
        let stop = String(full.dropFirst(prefix.count).prefix(3))
        try #require(!stop.isEmpty && !prefix.contains(stop))
        var body = Self.body(r, model: "base")
        body["stop"] = [stop, "never-produced-text"]
        let res = try live.call("POST", "/v1/completions", json: body)
        let choice = (res.json["choices"] as? [[String: Any]])?.first
        #expect(res.status == 200, "\(res.text)")
        #expect(choice?["finish_reason"] as? String == "stop")
        let text = try #require(choice?["text"] as? String)
        #expect(full.hasPrefix(text + stop) && !text.contains(stop))
        let used = try #require((res.json["usage"] as? [String: Int])?["completion_tokens"])
        #expect(used > k && used < r.tokenIDs.count)
        #expect(live.service.tokenizer.decode(Array(r.tokenIDs.prefix(used))).contains(stop))
        #expect(!live.service.tokenizer.decode(Array(r.tokenIDs.prefix(used - 1))).contains(stop))
    }

    /// Sampling is OpenAI's default; a seed makes it repeatable, choice i of n uses seed + i,
    /// and a list of prompts gives n choices each.
    @Test func samplingSeedsAndChoices() throws {
        let live = try LiveService()
        defer { live.stop() }
        func texts(_ body: [String: Any]) throws -> [String] {
            let res = try live.call("POST", "/v1/completions", json: body)
            #expect(res.status == 200, "\(res.text)")
            return (res.json["choices"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        }
        let base: [String: Any] = ["model": "base", "prompt": "Hello world", "max_tokens": 10]
        let two = try texts(base.merging(["n": 2, "seed": 7]) { $1 })
        #expect(two.count == 2)
        #expect(try texts(base.merging(["seed": 7]) { $1 }) == [two[0]])
        #expect(try texts(base.merging(["seed": 8]) { $1 }) == [two[1]])
        let greedy = try texts(base.merging(["temperature": 0]) { $1 })
        #expect(two != [greedy[0], greedy[0]], "temperature defaults to 1 (sampling)")
        let batch = try texts(base.merging(["prompt": ["Hello world", ""], "n": 2, "temperature": 0]) { $1 })
        #expect(batch.count == 4 && batch[0] == greedy[0] && batch[1] == greedy[0] && batch[2] == batch[3])
    }

    @Test func neutralFieldsPassAndOthersAreRefusedInOpenAIShape() throws {
        let live = try LiveService()
        defer { live.stop() }
        let ok: [String: Any] = ["model": "base", "prompt": "Hello world", "max_tokens": 3, "temperature": 0,
                                 "frequency_penalty": 0, "presence_penalty": 0, "logprobs": NSNull(), "user": "u1",
                                 "logit_bias": [String: Int](), "best_of": 1, "echo": false, "stream": false, "n": 1]
        #expect(try live.call("POST", "/v1/completions", json: ok).status == 200)
        let chatOK: [String: Any] = ["model": "base", "messages": [["role": "user", "content": "hi"]], "max_tokens": 3,
                                     "frequency_penalty": 0, "logprobs": false, "tools": [Any](), "tool_choice": "none",
                                     "response_format": ["type": "text"], "stream_options": NSNull(), "seed": 1]
        #expect(try live.call("POST", "/v1/chat/completions", json: chatOK).status == 200)
        let refused: [(String, [String: Any], Int, String, String)] = [
            ("/v1/completions", ["frequency_penalty": 0.5], 400, "unsupported_parameter", "frequency_penalty"),
            ("/v1/completions", ["logprobs": 2], 400, "unsupported_parameter", "logprobs"),
            ("/v1/completions", ["echo": true], 400, "unsupported_parameter", "echo"),
            ("/v1/completions", ["stream": "yes"], 400, "invalid_type", "stream"),
            ("/v1/completions", ["top_k": 5], 400, "unknown_parameter", "top_k"),
            ("/v1/completions", ["temperature": 3], 400, "invalid_value", "temperature"),
            ("/v1/completions", ["temperature": "hot"], 400, "invalid_type", "temperature"),
            ("/v1/completions", ["max_tokens": 0], 400, "invalid_value", "max_tokens"),
            ("/v1/completions", ["num_beams": 2], 400, "invalid_value", "num_beams"),
            ("/v1/completions", ["n": 9], 400, "invalid_value", "n"),
            ("/v1/completions", ["n": 3, "prompt": ["a", "b", "c"]], 400, "invalid_value", "n"),
            ("/v1/completions", ["stop": ["a", "b", "c", "d", "e"]], 400, "invalid_value", "stop"),
            ("/v1/completions", ["prompt": [1, 2, 3]], 400, "invalid_value", "prompt"),
            ("/v1/completions", ["model": "missing"], 404, "model_not_found", "model"),
            ("/v1/chat/completions", ["tools": [["type": "function"]]], 400, "unsupported_parameter", "tools"),
            ("/v1/chat/completions", ["messages": [["role": "tool", "content": "x"]]], 400, "invalid_value", "messages[0].role"),
            ("/v1/chat/completions", ["messages": [["role": "user", "content": [["type": "image_url"]]]]], 400, "invalid_value", "messages[0].content[0]"),
            ("/v1/chat/completions", ["messages": [Any]()], 400, "invalid_value", "messages"),
        ]
        for (path, change, status, code, param) in refused {
            var body: [String: Any] = path == "/v1/completions" ? ["model": "base", "prompt": "x"]
                : ["model": "base", "messages": [["role": "user", "content": "x"]]]
            body.merge(change) { $1 }
            let res = try live.call("POST", path, json: body)
            let error = res.json["error"] as? [String: Any]
            #expect(res.status == status, "\(change): \(res.text)")
            #expect(error?["code"] as? String == code && error?["param"] as? String == param, "\(change): \(res.text)")
            #expect(error?["type"] as? String == "invalid_request_error" && (error?["message"] as? String)?.isEmpty == false)
        }
        let malformed = try live.call("POST", "/v1/chat/completions", body: Data("{".utf8))
        #expect(malformed.status == 400 && (malformed.json["error"] as? [String: Any])?["type"] as? String == "invalid_request_error")
        let wrongMethod = try live.call("GET", "/v1/completions")
        #expect(wrongMethod.status == 405 && wrongMethod.headers["Allow"] == "POST")
        #expect((wrongMethod.json["error"] as? [String: Any])?.keys.sorted() == ["code", "message", "param", "type"])
    }

    @Test func modelsListTheBaseAndEveryAdapterWithParent() throws {
        let live = try LiveService()
        defer { live.stop() }
        #expect(try live.upload("a1", from: Paths.tinyAdapters.appendingPathComponent("lora-qv")).status == 201)
        #expect(try live.upload("p1", from: Paths.tinyAdapters.appendingPathComponent("prompt-20")).status == 201)
        let list = try live.call("GET", "/v1/models")
        #expect(list.status == 200 && list.json["object"] as? String == "list")
        let data = try #require(list.json["data"] as? [[String: Any]])
        #expect(data.compactMap { $0["id"] as? String } == ["tiny-flan", "a1", "p1"])
        for m in data {
            #expect(m["object"] as? String == "model" && m["owned_by"] as? String == "adapter-serve" && m["created"] is Int)
        }
        #expect(data[0]["parent"] == nil && data[1]["parent"] as? String == "tiny-flan" && data[2]["parent"] as? String == "tiny-flan")
        let one = try live.call("GET", "/v1/models/p1")
        #expect(one.status == 200 && one.json["id"] as? String == "p1" && one.json["parent"] as? String == "tiny-flan")
        #expect(try live.call("GET", "/v1/models/base").json["id"] as? String == "tiny-flan")
        let missing = try live.call("GET", "/v1/models/nope")
        #expect(missing.status == 404 && (missing.json["error"] as? [String: Any])?["code"] as? String == "model_not_found")
    }
}

extension Reference {
    var num_beams: Bool { (params["num_beams"] as? Int ?? 1) > 1 }
}

import Foundation
import Testing
import HTTPTesting
@testable import API
@testable import Adapters
@testable import Serving
import T5

/// `"adapter": {"combine": [...]}` on /v1/summarize through a live server on port 0 with curl:
/// PEFT's tokens for every tiny-flan combination fixture, what the response reports, the cache,
/// and a JSON 4xx naming the problem for each kind of bad combination.
@Suite(.serialized) struct CombinationEndpointTests {
    struct Case: Sendable {
        let id: String
        let combination: [CombinationMember]
        let dialogue: String
        let maxNewTokens: Int
        let numBeams: Int
        let tokenIDs: [Int32]
        var members: [[String: Any]] { combination.map { ["name": $0.name, "weight": $0.weight] } }
        var params: [String: Any] { ["max_new_tokens": maxNewTokens, "num_beams": numBeams] }
    }

    /// Tests/Fixtures/combine/expected.json (make_combine_fixtures.py), tiny-flan cases.
    static let cases: [Case] = {
        let url = Paths.repo.appendingPathComponent("Tests/Fixtures/combine/expected.json")
        guard let data = try? Data(contentsOf: url), let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let combinations = json["combinations"] as? [[String: Any]] else { return [] }
        return combinations.filter { $0["model"] as? String == "tiny-flan" }.flatMap { c in
            (c["cases"] as! [[String: Any]]).map {
                let params = $0["params"] as! [String: Any]
                return Case(id: "\(c["id"]!)/\($0["id"]!)",
                            combination: (c["members"] as! [[String: Any]]).map { CombinationMember(name: $0["name"] as! String, weight: $0["weight"] as! Double) },
                            dialogue: $0["dialogue"] as! String, maxNewTokens: params["max_new_tokens"] as! Int,
                            numBeams: params["num_beams"] as? Int ?? 1, tokenIDs: ($0["token_ids"] as! [Int]).map(Int32.init))
            }
        }
    }()

    static let members = ["lora-qv", "lora-patterns", "lora-all-rslora", "lora-regex", "dora-qv", "prompt-20", "ia3-all"]

    /// A live service holding the fixture adapters the cases need; returns their SHA-256s.
    func start() throws -> (LiveService, [String: String]) {
        let live = try LiveService()
        var shas: [String: String] = [:]
        for name in Self.members {
            let up = try live.upload(name, from: Paths.tinyAdapters.appendingPathComponent(name))
            #expect(up.status == 201 || up.status == 200, "\(name): \(up.text)")
            shas[name] = up.json["sha256"] as? String
        }
        return (live, shas)
    }

    func body(_ dialogue: String, _ members: Any, params: [String: Any] = ["max_new_tokens": 8]) -> [String: Any] {
        ["dialogue": dialogue, "adapter": ["combine": members], "parameters": params, "return_token_ids": true]
    }

    @Test func everyFixtureCombinationGivesPEFTsTokensAndIsReported() throws {
        #expect(Self.cases.count >= 18)
        let (live, shas) = try start()
        defer { live.stop() }
        for c in Self.cases {
            let res = try live.call("POST", "/v1/summarize", json: body(c.dialogue, c.members, params: c.params))
            #expect(res.status == 200, "\(c.id): \(res.text)")
            #expect(res.tokenIDs == c.tokenIDs, "\(c.id)")
            let sorted = c.combination.sorted { $0.name < $1.name }
            let label = "combine(" + sorted.map { "\($0.name):\($0.weight)" }.joined(separator: ",") + ")"
            #expect(res.adapterName == label && res.headers["X-Adapter"] == label, "\(c.id): \(res.text)")
            let adapter = res.json["adapter"] as? [String: Any]
            #expect(adapter?["kind"] as? String == "combination")
            let reported = adapter?["combine"] as? [[String: Any]] ?? []
            #expect(reported.map { $0["name"] as? String } == sorted.map(\.name))
            #expect(reported.map { $0["weight"] as? Double } == sorted.map(\.weight))
            #expect(reported.map { $0["sha256"] as? String } == sorted.map { shas[$0.name] })
        }
        // Streamed: the header names the combination and the summary event reports it, with
        // the same tokens as the answer above.
        let c = try #require(Self.cases.first { $0.id == "qv-patterns/greedy-d0" })
        var streamed = body(c.dialogue, c.members, params: c.params)
        streamed["stream"] = true
        let stream = try live.call("POST", "/v1/summarize", json: streamed, extra: ["-N"])
        let events = try #require(parseEvents(stream.text), "not SSE: \(stream.text)")
        let summary = try #require(events.last { $0.name == "summary" })
        #expect(stream.status == 200 && stream.headers["X-Adapter"] == "combine(lora-patterns:0.3,lora-qv:0.7)")
        #expect(((summary.json["adapter"] as? [String: Any])?["combine"] as? [Any])?.count == 2)
        #expect((summary.json["token_ids"] as? [Int])?.map(Int32.init) == c.tokenIDs)
        // A plain name still works beside combinations.
        let plain = try live.call("POST", "/v1/summarize", json: ["dialogue": "Hi.", "adapter": "lora-qv", "parameters": ["max_new_tokens": 4]])
        #expect(plain.status == 200 && plain.adapterName == "lora-qv" && (plain.json["adapter"] as? [String: Any])?["combine"] == nil)
        // Metrics: every combination shares one label value, none gets a label of its own.
        let metrics = try live.call("GET", "/metrics").text
        #expect(metrics.contains("adapter=\"combine(*)\""))
        #expect(!metrics.contains("adapter=\"combine(lora"))
    }

    /// Repeating a combination (in any member order) reuses the built LoRA; replacing or
    /// deleting a member drops it, and the next request uses the new weights or gets a 404.
    @Test func cacheIsReusedAndDroppedWhenAMemberChanges() throws {
        let (live, shas) = try start()
        defer { live.stop() }
        let members: [[String: Any]] = [["name": "lora-qv", "weight": 0.7], ["name": "lora-patterns", "weight": 0.3]]
        let first = try live.call("POST", "/v1/summarize", json: body("Hello there.", members))
        #expect(first.status == 200, "\(first.text)")
        let builds = live.service.combinations.builds
        let again = try live.call("POST", "/v1/summarize", json: body("Hello there.", Array(members.reversed())))
        #expect(again.status == 200 && again.tokenIDs == first.tokenIDs && again.adapterName == first.adapterName)
        #expect(live.service.combinations.builds == builds && live.service.combinations.count == 1)

        // Replace lora-qv with other weights: the cached combination goes, the new one reports the new SHA.
        let replaced = try live.upload("lora-qv", from: Paths.tinyAdapters.appendingPathComponent("lora-regex"), query: "?replace=true")
        #expect(replaced.status == 200 || replaced.status == 201, "\(replaced.text)")
        #expect(live.service.combinations.count == 0)
        let after = try live.call("POST", "/v1/summarize", json: body("Hello there.", members))
        #expect(after.status == 200 && live.service.combinations.builds == builds + 1)
        let reported = (after.json["adapter"] as? [String: Any])?["combine"] as? [[String: Any]] ?? []
        #expect(reported.first { $0["name"] as? String == "lora-qv" }?["sha256"] as? String == shas["lora-regex"])

        #expect(try live.call("DELETE", "/v1/adapters/lora-patterns").status == 204)
        #expect(live.service.combinations.count == 0)
        let gone = try live.call("POST", "/v1/summarize", json: body("Hello there.", members))
        #expect(gone.status == 404 && gone.errorCode == "adapter_not_found" && gone.errorMessage?.contains("lora-patterns") == true, "\(gone.text)")
    }

    /// A combination, a plain LoRA and the base submitted together run as one continuous batch
    /// on the engine; each gives what it gives alone.
    @Test func mixedBatchOnTheEngineEqualsEachAlone() throws {
        let (live, _) = try start()
        defer { live.stop() }
        let c = try #require(Self.cases.first { $0.id == "three-negative-rslora/greedy-d0" })
        guard case .ready(let combined?) = live.service.resolve(combination: RequestCombination.canonical(c.combination)),
              case .ready(let lora?) = live.service.resolve(names: ["lora-qv"]) else {
            Issue.record("the adapters did not resolve"); return
        }
        let ids = live.service.tokenizer.encode(Paths.lab.replacingOccurrences(of: "{dialogue}", with: c.dialogue))
        var parameters = GenerationParameters()
        parameters.maxNewTokens = 20
        let requests: [(ids: [Int32], adapter: ResolvedAdapter?)] = [(ids, combined), (ids, lora), (ids, nil)]
        let together = try live.service.engine.generateAll(requests, parameters: parameters).map(\.tokens)
        let alone = try requests.map { try live.service.engine.generateAll([$0], parameters: parameters)[0].tokens }
        #expect(together == alone)
        #expect(together[0] == c.tokenIDs && together[1] != together[0] && together[2] != together[0])
    }

    @Test func badCombinationsGetAJSON4xxNamingTheProblem() throws {
        let (live, _) = try start()
        defer { live.stop() }
        func post(_ adapter: Any) throws -> CurlResponse {
            try live.call("POST", "/v1/summarize", json: ["dialogue": "Hi.", "adapter": adapter, "parameters": ["max_new_tokens": 4]])
        }
        func expect(_ res: CurlResponse, _ status: Int, _ code: String, _ words: String, _ sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(res.status == status && res.errorCode == code && res.errorMessage?.contains(words) == true,
                    "\(res.status) \(res.text)", sourceLocation: sourceLocation)
        }
        let qv: [String: Any] = ["name": "lora-qv", "weight": 0.5]
        expect(try post(["combine": [qv, ["name": "nope", "weight": 0.5]]]), 404, "adapter_not_found", "'nope'")
        expect(try post(["combine": [] as [Any]]), 400, "invalid_combination", "empty")
        expect(try post(["combine": [qv, qv]]), 400, "invalid_combination", "more than once")
        let many = (0...RequestCombination.maxMembers).map { ["name": "a\($0)", "weight": 1.0] }
        expect(try post(["combine": many]), 400, "invalid_combination", "at most \(RequestCombination.maxMembers)")
        expect(try post(["combine": [["name": "lora-qv", "weight": 1e39]]]), 400, "invalid_combination", "finite Float32")
        expect(try post(["combine": [["name": "lora-qv", "weight": 1e12]]]), 422, "invalid_combination", "|ΔW|")
        expect(try post(["combine": [qv, ["name": "dora-qv", "weight": 0.5]]]), 422, "invalid_combination", "DoRA")
        expect(try post(["combine": [qv, ["name": "prompt-20", "weight": 0.5]]]), 422, "invalid_combination", "soft prompt")
        expect(try post(["combine": [qv, ["name": "ia3-all", "weight": 0.5]]]), 422, "invalid_combination", "IA3")
        expect(try post(["combine": [["name": "lora-qv", "weight": "0.5"]]]), 400, "invalid_request", "adapter.combine[0].weight")
        expect(try post(["combine": [["name": "lora-qv"]]]), 400, "invalid_request", "adapter.combine[0].weight is required")
        expect(try post(["combine": [["weight": 0.5]]]), 400, "invalid_request", "adapter.combine[0].name")
        expect(try post(["combine": [qv, ["name": "lora-qv", "weight": 0.5, "scale": 2]]]), 400, "invalid_request", "adapter.combine[1].scale")
        expect(try post(["combine": ["lora-qv"]]), 400, "invalid_request", "adapter.combine[0] must be an object")
        expect(try post(["combine": qv]), 400, "invalid_request", "adapter.combine must be an array")
        expect(try post(["mix": [qv]]), 400, "invalid_request", "adapter.mix")
        expect(try post([String: Any]()), 400, "invalid_request", "adapter.combine is required")
        // A weight JSON cannot hold in a double is refused as well, never served.
        let huge = try live.call("POST", "/v1/summarize", body: Data(#"{"dialogue": "Hi.", "adapter": {"combine": [{"name": "lora-qv", "weight": 1e400}]}}"#.utf8),
                                 headers: ["Content-Type: application/json"])
        #expect(huge.status == 400 && huge.errorCode != nil, "\(huge.text)")
        // Nothing stored was touched: the members still serve.
        #expect(try post(["combine": [qv]]).status == 200)
    }
}

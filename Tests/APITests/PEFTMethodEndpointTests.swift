import Foundation
import Testing
@testable import API
@testable import Serving

/// IA3, DoRA, AdaLoRA and prefix-tuning adapters through the HTTP API with curl: upload, listing
/// with `kind` naming the method, summarize equal to PEFT (expected-methods.json), activation for
/// a task, hot swap to another method under the same name, and stacking with a soft prompt or a
/// prefix (and the refusal of stacks PEFT has no reference for).
@Suite struct PEFTMethodEndpointTests {
    static let kinds: [String: String] = {
        guard let data = try? Data(contentsOf: Paths.tinyFlan.appendingPathComponent("expected-methods.json")),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return [:] }
        return json["kinds"] as? [String: String] ?? [:]
    }()

    static var references: [Reference] { Reference.load("expected-methods.json") }

    func body(_ r: Reference, adapter: Any? = nil, task: String? = nil) -> [String: Any] {
        EndpointTests().summarizeBody(r, adapter: adapter, task: task)
    }

    @Test func everyMethodUploadsListsServesAndActivates() throws {
        let live = try LiveService()
        defer { live.stop() }
        try #require(Set(Self.kinds.values) == ["ia3", "dora", "adalora", "prefix_tuning"])
        #expect(try live.upload("prompt-20", from: Paths.tinyAdapters.appendingPathComponent("prompt-20")).status == 201)
        for (name, kind) in Self.kinds.sorted(by: { $0.key < $1.key }) {
            let up = try live.upload(name, from: Paths.tinyAdapters.appendingPathComponent(name))
            #expect(up.status == 201, "\(name): \(up.text)")
            #expect(up.json["kind"] as? String == kind, "\(name): \(up.text)")
            let one = try live.call("GET", "/v1/adapters/\(name)")
            #expect(one.json["kind"] as? String == kind && one.json["parameter_count"] as? Int ?? 0 > 0)
            let refs = Self.references.filter { $0.adapters == [name] && $0.dialogue != nil }
            #expect(refs.count == 3)
            for r in refs {
                let res = try live.call("POST", "/v1/summarize", json: body(r, adapter: name))
                #expect(res.status == 200 && res.tokenIDs == r.tokenIDs, "\(r.id): \(res.text)")
                #expect(res.adapterName == name && res.adapterSHA == up.json["sha256"] as? String)
            }
            // Activated for a task, the task serves it.
            #expect(try live.call("POST", "/v1/adapters/\(name)/activate", json: ["task": "t-\(name)"]).status == 200)
            let viaTask = try live.call("POST", "/v1/summarize", json: body(refs[0], task: "t-\(name)"))
            #expect(viaTask.adapterName == name && viaTask.tokenIDs == refs[0].tokenIDs, "\(name) via task: \(viaTask.text)")
        }
        // Stacks: a weight adapter with the soft prompt (PEFT's merged adapter fed the prompt rows)
        // or with a prefix (PEFT's prefix on the merged adapter).
        let stacks = Self.references.filter { $0.adapters.count == 2 }
        #expect(stacks.count >= 7)
        for r in stacks {
            let res = try live.call("POST", "/v1/summarize", json: body(r, adapter: r.adapters))
            #expect(res.status == 200 && res.tokenIDs == r.tokenIDs, "\(r.id): \(res.text)")
        }
        // A soft prompt and a prefix together have no PEFT reference either.
        let both = try live.call("POST", "/v1/summarize", json: body(Self.references[0], adapter: ["prompt-20", "prefix-6"]))
        #expect(both.status == 422 && both.errorCode == "invalid_adapter_combination", "\(both.text)")
        let listed = (try live.call("GET", "/v1/adapters").json["adapters"] as? [[String: Any]]) ?? []
        for (name, kind) in Self.kinds {
            #expect(listed.first { $0["name"] as? String == name }?["kind"] as? String == kind, "\(name) in the listing")
        }
        // Two weight adapters in one request have no PEFT reference: refused, not crashed.
        let two = try live.call("POST", "/v1/summarize", json: body(Self.references[0], adapter: ["ia3-default", "dora-qv"]))
        #expect(two.status == 422 && two.errorCode == "invalid_adapter_combination", "\(two.text)")
    }

    @Test func hotSwapBetweenMethodsUnderOneName() throws {
        let live = try LiveService()
        defer { live.stop() }
        let order = ["ia3-all", "dora-all-rslora", "prefix-proj-4", "adalora-qvwo"]
        #expect(try live.upload("support", from: Paths.tinyAdapters.appendingPathComponent(order[0])).status == 201)
        #expect(try live.call("POST", "/v1/adapters/support/activate", json: ["task": "dialogsum"]).status == 200)
        for (i, name) in order.enumerated() {
            if i > 0 {
                let swap = try live.upload("support", from: Paths.tinyAdapters.appendingPathComponent(name), query: "?replace=true")
                #expect(swap.status == 201 && swap.json["kind"] as? String == Self.kinds[name], "\(swap.text)")
            }
            let r = try #require(Self.references.first { $0.id == "\(name)-greedy-d0" })
            let res = try live.call("POST", "/v1/summarize", json: body(r, task: "dialogsum"))
            #expect(res.adapterName == "support" && res.tokenIDs == r.tokenIDs, "\(name): \(res.text)")
        }
    }
}

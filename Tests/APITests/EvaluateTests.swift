import Foundation
import HTTPTesting
import Rouge
import Testing

/// POST /v1/evaluate: the same summaries /v1/summarize gives, scored with rouge_score-identical ROUGE.
@Suite(.serialized) struct EvaluateTests {
    @Test func comparesBaseAndAnUploadBeforeActivation() throws {
        let live = try LiveService { $0.maxEvaluateItems = 4 }
        defer { live.stop() }
        #expect(try live.upload("candidate", from: Paths.tinyAdapters.appendingPathComponent("lora-qv")).status == 201)
        let rows = try String(contentsOf: Paths.dialogSum.appendingPathComponent("dialogsum.test.jsonl"), encoding: .utf8)
            .split(separator: "\n").prefix(3)
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let items = rows.map { ["dialogue": $0["dialogue"] as! String, "reference": $0["summary1"] as! String] }
        let params: [String: Any] = ["max_new_tokens": 8]
        let res = try live.call("POST", "/v1/evaluate", json: ["items": items, "adapters": ["base", "candidate"], "parameters": params])
        #expect(res.status == 200, "\(res.text)")
        let out = try #require(res.json["rows"] as? [[String: Any]])
        #expect(out.map { $0["candidate"] as? String } == ["base", "candidate"])
        let scorer = RougeScorer()
        for (row, adapter) in zip(out, [nil, "candidate"] as [String?]) {
            let predictions = try #require(row["predictions"] as? [String])
            // The same summaries as /v1/summarize with the same parameters.
            for (i, item) in items.enumerated() {
                var body: [String: Any] = ["dialogue": item["dialogue"]!, "parameters": params]
                if let adapter { body["adapter"] = adapter }
                #expect(try live.call("POST", "/v1/summarize", json: body).json["summary"] as? String == predictions[i])
            }
            let means = meanFMeasures(zip(predictions, items).map { scorer.score(prediction: $0, reference: $1["reference"]!) })
            #expect(abs((row["rouge1"] as! Double) - means.rouge1) < 1e-12)
            #expect(abs((row["rougeLsum"] as! Double) - means.rougeLsum) < 1e-12)
        }
        #expect(out[1]["change_vs_base"] is [String: Double])

        let tooMany = try live.call("POST", "/v1/evaluate", json: ["items": Array(repeating: items[0], count: 5)])
        #expect(tooMany.status == 422 && tooMany.errorCode == "too_many_items")
        #expect(try live.call("POST", "/v1/evaluate", json: ["items": []]).status == 400)
        #expect(try live.call("POST", "/v1/evaluate", json: ["items": [["dialogue": "x"]]]).status == 400)
        #expect(try live.call("POST", "/v1/evaluate", json: ["items": items, "adapters": ["nope"]]).status == 404)
    }
}

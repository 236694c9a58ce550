import Bleu
import Foundation
import HTTPTesting
import Testing

/// POST /v1/evaluate reports sacreBLEU corpus BLEU beside ROUGE (the Bleu module is proven
/// against sacreBLEU itself in BleuTests; this proves the endpoint scores its own predictions).
@Suite(.serialized) struct EvaluateBleuTests {
    @Test func rowsCarryCorpusBleuOfTheirPredictions() throws {
        let live = try LiveService { $0.maxEvaluateItems = 4 }
        defer { live.stop() }
        #expect(try live.upload("candidate", from: Paths.tinyAdapters.appendingPathComponent("lora-qv")).status == 201)
        let rows = try String(contentsOf: Paths.dialogSum.appendingPathComponent("dialogsum.test.jsonl"), encoding: .utf8)
            .split(separator: "\n").prefix(4)
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let items = rows.map { ["dialogue": $0["dialogue"] as! String, "reference": $0["summary1"] as! String] }
        let res = try live.call("POST", "/v1/evaluate", json: ["items": items, "adapters": ["base", "candidate"],
                                                                "parameters": ["max_new_tokens": 12]])
        #expect(res.status == 200, "\(res.text)")
        let out = try #require(res.json["rows"] as? [[String: Any]])
        var bleu: [Double] = []
        for row in out {
            let predictions = try #require(row["predictions"] as? [String])
            let expected = SacreBleu.corpusBleu(hypotheses: predictions, references: items.map { [$0["reference"]!] }).score
            let got = try #require(row["bleu"] as? Double)
            #expect(abs(got - expected) <= 1e-12)
            #expect(row["bleu_signature"] as? String == "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0")
            bleu.append(got)
        }
        let change = try #require(out[1]["change_vs_base"] as? [String: Double])
        #expect(abs(change["bleu"]! - (bleu[1] - bleu[0])) <= 1e-12)

        // The base's own summaries as references: its BLEU is sacreBLEU's perfect score (a
        // random tiny model's summaries share little with DialogSum's, so this is the case
        // where the number is not near zero).
        let own = try #require(out[0]["predictions"] as? [String])
        let echoed = zip(items, own).map { ["dialogue": $0["dialogue"]!, "reference": $1] }
        let again = try live.call("POST", "/v1/evaluate", json: ["items": echoed, "adapters": ["base"], "parameters": ["max_new_tokens": 12]])
        let row = try #require((again.json["rows"] as? [[String: Any]])?.first)
        #expect(abs((row["bleu"] as? Double ?? 0) - 100) <= 1e-9, "\(own)")
    }
}

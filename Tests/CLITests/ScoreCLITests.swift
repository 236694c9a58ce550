import Foundation
import HTTPTesting
import Testing

/// `adapter-serve score` (and its `rouge` alias) against rouge_score and sacreBLEU, on the input
/// and expected output written by scripts/reference/make_bleu_fixtures.py.
@Suite struct ScoreCLITests {
    static let pairs = CLI.repo.appendingPathComponent("Tests/Fixtures/bleu/score-pairs.jsonl")
    static let metrics = ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu"]

    static func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: CLI.repo.appendingPathComponent("Tests/Fixtures/bleu/score-expected.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func scoreJSONMatchesRougeScoreAndSacreBleu() throws {
        let want = try Self.expected()
        let r = try CLI.run(["score", "--pairs", Self.pairs.path, "--metrics", "rouge,bleu", "--json"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        let out = CLI.json(r)
        #expect(Set(out.keys) == ["mean", "corpus", "pairs"])
        let corpus = try #require(out["corpus"] as? [String: Any])
        let wantCorpus = try #require(want["corpus"] as? [String: Any])
        #expect(Set(corpus.keys) == ["bleu", "bleu_signature"])
        #expect(abs((corpus["bleu"] as? Double ?? -1) - (wantCorpus["bleu"] as! Double)) <= 1e-9)
        #expect(corpus["bleu_signature"] as? String == "nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0")
        #expect(corpus["bleu_signature"] as? String == wantCorpus["bleu_signature"] as? String)
        let pairs = try #require(out["pairs"] as? [[String: Any]])
        let wantPairs = try #require(want["pairs"] as? [[String: Double]])
        #expect(pairs.count == wantPairs.count && pairs.count == 43)
        for (i, (got, exp)) in zip(pairs, wantPairs).enumerated() {
            #expect(Set(got.keys) == Set(Self.metrics), "pair \(i)")
            for m in Self.metrics {
                #expect(abs((got[m] as? Double ?? -1) - exp[m]!) <= 1e-9, "pair \(i) \(m): \(got[m] ?? "nil") vs \(exp[m]!)")
            }
        }
        let mean = try #require(out["mean"] as? [String: Double])
        let wantMean = try #require(want["mean"] as? [String: Double])
        for m in Self.metrics { #expect(abs((mean[m] ?? -1) - wantMean[m]!) <= 1e-9, "mean \(m)") }
    }

    /// `rouge` keeps its old output (ROUGE only, no "corpus"); asked for BLEU it equals `score`.
    @Test func rougeIsAnAliasWithRougeByDefault() throws {
        let score = try CLI.run(["score", "--pairs", Self.pairs.path, "--json"])
        let rouge = try CLI.run(["rouge", "--pairs", Self.pairs.path, "--json"])
        let both = try CLI.run(["rouge", "--pairs", Self.pairs.path, "--metrics", "rouge,bleu", "--json"])
        #expect(score.exitCode == 0 && rouge.exitCode == 0 && both.exitCode == 0, "\(rouge.stderr)")
        #expect(both.stdout == score.stdout)
        let out = CLI.json(rouge)
        #expect(Set(out.keys) == ["mean", "pairs"])
        let pairs = try #require(out["pairs"] as? [[String: Double]])
        let full = try #require(CLI.json(score)["pairs"] as? [[String: Double]])
        #expect(pairs.count == full.count)
        for (a, b) in zip(pairs, full) {
            #expect(Set(a.keys) == ["rouge1", "rouge2", "rougeL", "rougeLsum"])
            for m in a.keys { #expect(a[m] == b[m]) }
        }
        let bleuOnly = CLI.json(try CLI.run(["score", "--pairs", Self.pairs.path, "--metrics", "bleu", "--json"]))
        #expect((bleuOnly["pairs"] as? [[String: Double]])?.allSatisfy { Set($0.keys) == ["bleu"] } == true)
        let table = try CLI.run(["score", "--pairs", Self.pairs.path])
        #expect(table.exitCode == 0 && table.stdoutText.contains("corpus BLEU 22.9768  nrefs:var|"))
    }

    @Test func badInputGetsAMessage() throws {
        let scratch = try TemporaryDirectory()
        let unknown = try CLI.run(["score", "--pairs", Self.pairs.path, "--metrics", "rouge,meteor"])
        #expect(unknown.exitCode != 0 && unknown.stderr.contains("unknown metric 'meteor'"))
        let emptyRefs = try scratch.write("refs.jsonl", Data(#"{"prediction": "a", "references": []}"#.utf8))
        let r1 = try CLI.run(["score", "--pairs", emptyRefs.path, "--json"])
        #expect(r1.exitCode != 0 && r1.stderr.contains(#"line 1: "references" must be a non-empty array of strings"#), "\(r1.stderr)")
        let both = try scratch.write("both.jsonl", Data(#"{"prediction": "a", "reference": "b", "references": ["c"]}"#.utf8))
        let r2 = try CLI.run(["score", "--pairs", both.path])
        #expect(r2.exitCode != 0 && r2.stderr.contains("not both"))
        let empty = try scratch.write("empty.jsonl", Data("\n".utf8))
        let r3 = try CLI.run(["score", "--pairs", empty.path, "--json"])
        #expect(r3.exitCode != 0 && r3.stderr.contains("no pairs"))
    }

    /// `eval --json` rows carry corpus BLEU (0-100) and its signature next to ROUGE.
    @Test func evalReportsBleu() throws {
        let data = CLI.repo.appendingPathComponent("assets/dialogsum/dialogsum.test.jsonl")
        let r = try CLI.run(["eval", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--data", data.path, "--limit", "2", "--max-new-tokens", "8",
                             "--adapter", "lora=" + CLI.fixtures.appendingPathComponent("tiny-flan/adapters/lora-qv").path, "--json"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        let rows = try #require(CLI.json(r)["rows"] as? [[String: Any]])
        #expect(rows.count == 2)
        for row in rows {
            let bleu = try #require(row["bleu"] as? Double)
            #expect(bleu >= 0 && bleu <= 100)
            #expect(row["bleu_signature"] as? String == "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0")
        }
        let change = try #require(rows[1]["change_vs_base"] as? [String: Double])
        #expect(abs(change["bleu"]! - ((rows[1]["bleu"] as! Double) - (rows[0]["bleu"] as! Double))) <= 1e-12)
    }
}

import Foundation
import HTTPTesting
import Testing

/// The adapter-serve executable as other tools use it: its JSON contracts, its errors, and
/// `serve` draining on SIGTERM.
enum CLI {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repo.appendingPathComponent("Tests/Fixtures/models")
    static let tokenizer = repo.appendingPathComponent("assets/flan-t5-base")
    /// Built beside the test bundle by `swift build --build-tests`.
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("adapter-serve")

    static func run(_ args: [String]) throws -> ProcessResult {
        try runProcess(binary.path, args, allowFailure: true)
    }

    static func json(_ r: ProcessResult) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: r.stdout)) as? [String: Any] ?? [:]
    }

    static func reference(_ model: String, _ id: String) -> [String: Any]? {
        let data = try? Data(contentsOf: fixtures.appendingPathComponent("\(model)/expected.json"))
        let cases = (data.flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any])?["cases"] as? [[String: Any]]
        return cases?.first { $0["id"] as? String == id }
    }
}

@Suite(.serialized) struct CLITests {
    @Test("generate --json prints transformers' ids", arguments: [("tiny-flan", "greedy-d0", 1), ("tiny-flan", "beam4-d0", 4), ("tiny-t5v1", "greedy-d1", 1)])
    func generateContract(_ model: String, _ id: String, _ beams: Int) throws {
        let ref = try #require(CLI.reference(model, id))
        let maxNew = (ref["params"] as! [String: Any])["max_new_tokens"] as! Int
        let r = try CLI.run(["generate", "--model", CLI.fixtures.appendingPathComponent(model).path, "--tokenizer", CLI.tokenizer.path,
                             "--text", ref["text"] as! String, "--max-new-tokens", String(maxNew), "--num-beams", String(beams), "--json"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        let out = CLI.json(r)
        #expect(Set(out.keys) == ["summary", "input_ids", "token_ids"])
        #expect(out["input_ids"] as? [Int] == ref["input_ids"] as? [Int])
        #expect(out["token_ids"] as? [Int] == ref["token_ids"] as? [Int])
        #expect(out["summary"] is String)
    }

    @Test func generateWithStackedAdapters() throws {
        let ref = try #require(CLI.reference("tiny-flan", "lora-qv+prompt-20-greedy-d0"))
        let adapters = CLI.fixtures.appendingPathComponent("tiny-flan/adapters")
        let r = try CLI.run(["generate", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--text", ref["text"] as! String, "--max-new-tokens", "20",
                             "--adapter", adapters.appendingPathComponent("lora-qv").path,
                             "--adapter", adapters.appendingPathComponent("prompt-20").path, "--json"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect(CLI.json(r)["token_ids"] as? [Int] == ref["token_ids"] as? [Int])
    }

    @Test func tokenizeNeedsOnlyTokenizerFiles() throws {
        let r = try CLI.run(["tokenize", "--model", CLI.tokenizer.path, "--text", "Hello world", "--json"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect(CLI.json(r)["ids"] as? [Int] == [8774, 296, 1])
    }

    @Test func errorsAreMessagesNotCrashes() throws {
        let missing = try CLI.run(["generate", "--model", "/nonexistent", "--text", "x", "--tokenizer", CLI.tokenizer.path])
        #expect(missing.exitCode != 0 && missing.stderr.contains("config.json"))
        let scratch = try TemporaryDirectory()
        _ = try scratch.write("config.json", try Data(contentsOf: CLI.fixtures.appendingPathComponent("tiny-flan/config.json")))
        _ = try scratch.write("pytorch_model.bin", Data([0x80, 0x02]))
        let pickle = try CLI.run(["generate", "--model", scratch.url.path, "--tokenizer", CLI.tokenizer.path, "--text", "x"])
        #expect(pickle.exitCode != 0 && pickle.stderr.contains("safe_serialization"))
        let beams = try CLI.run(["generate", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer",
                                 CLI.tokenizer.path, "--text", "x", "--num-beams", "0"])
        #expect(beams.exitCode != 0 && beams.stderr.contains("num_beams"))
        // Two LoRAs on the same modules: the server's 422 rule, not a precondition crash.
        let lora = CLI.fixtures.appendingPathComponent("tiny-flan/adapters/lora-qv").path
        let twice = try CLI.run(["generate", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer",
                                 CLI.tokenizer.path, "--text", "x", "--adapter", lora, "--adapter", lora])
        #expect(twice.exitCode != 0 && twice.stderr.contains("at most one weight adapter"), "\(twice.exitCode) \(twice.stderr)")
    }

    /// The real FLAN-T5-base shapes load and generate (random weights: the tokens mean nothing).
    @Test func fullSizeRandomCheckpointLoadsAndGenerates() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.url.appendingPathComponent("flan-t5-base-random")
        let make = try CLI.run(["make-random-model", "--config", CLI.tokenizer.appendingPathComponent("config.json").path, "--out", dir.path, "--bf16"])
        #expect(make.exitCode == 0, "\(make.stderr)")
        let r = try CLI.run(["generate", "--model", dir.path, "--text", "Summarize: hello", "--max-new-tokens", "3", "--json"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect((CLI.json(r)["token_ids"] as? [Int])?.count ?? 0 >= 1)
        let ids = try CLI.run(["tokenize", "--model", dir.path, "--text", "Summarize: hello", "--json"])
        #expect(CLI.json(r)["input_ids"] as? [Int] == CLI.json(ids)["ids"] as? [Int])
    }

    @Test func serveDrainsOnSIGTERM() throws {
        let scratch = try TemporaryDirectory()
        let out = scratch.file("stdout"), err = scratch.file("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--adapters", scratch.url.appendingPathComponent("adapters").path, "--port", "0"]
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        var port: Int?
        for _ in 0..<600 where port == nil {
            let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on http://") }),
               let p = line.split(separator: ":").last.flatMap({ Int($0) }) { port = p }
            else { usleep(50_000) }
        }
        let bound = try #require(port, "no 'listening on' line: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        #expect(try curl(["http://127.0.0.1:\(bound)/healthz"]).status == 200)
        // A long request in flight when SIGTERM arrives must still complete.
        let body = ##"{"dialogue": "#Person1#: hi", "parameters": {"max_new_tokens": 400, "min_new_tokens": 400}}"##
        let bodyFile = try scratch.write("body.json", Data(body.utf8))
        let result = ResponseBox()
        let client = Thread {
            result.set(try? curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@" + bodyFile.path,
                                  "http://127.0.0.1:\(bound)/v1/summarize"]))
        }
        client.start()
        // Wait (bounded) until the engine reports the request as being decoded.
        for _ in 0..<3000 {
            let metrics = (try? curl(["http://127.0.0.1:\(bound)/metrics"]))?.text ?? ""
            if metrics.split(separator: "\n").contains(where: { $0.hasPrefix("adapterserve_active_sequences ") && !$0.hasSuffix(" 0.0") && !$0.hasSuffix(" 0") }) { break }
            usleep(5_000)
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        for _ in 0..<600 where result.get() == nil { usleep(50_000) }
        let response = try #require(result.get())
        #expect(response.status == 200, "\(response.text)")
        #expect(((try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any])?["usage"] != nil)
        #expect(((try? String(contentsOf: err, encoding: .utf8)) ?? "").contains("draining"))
    }
}

final class ResponseBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: CurlResponse?
    func set(_ v: CurlResponse?) { lock.lock(); value = v; lock.unlock() }
    func get() -> CurlResponse? { lock.lock(); defer { lock.unlock() }; return value }
}

@Suite(.serialized) struct EvaluationCLITests {
    /// `rouge --pairs` against rouge_score's own values (Tests/Fixtures/rouge/edge-cases.json).
    @Test func rougeCommandMatchesRougeScore() throws {
        let data = try Data(contentsOf: CLI.repo.appendingPathComponent("Tests/Fixtures/rouge/edge-cases.json"))
        let fixture = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let order = fixture["scoreOrder"] as! [String]
        let fIndex = try #require(order.firstIndex(of: "fmeasure"))
        let cases = fixture["cases"] as! [[String: Any]]
        let lines = try cases.map { c in
            String(decoding: try JSONSerialization.data(withJSONObject: ["prediction": c["prediction"]!, "reference": c["reference"]!]), as: UTF8.self)
        }
        let scratch = try TemporaryDirectory()
        let pairs = try scratch.write("pairs.jsonl", Data((lines.joined(separator: "\n") + "\n").utf8))
        let r = try CLI.run(["rouge", "--pairs", pairs.path, "--json"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        let out = CLI.json(r)
        let got = try #require(out["pairs"] as? [[String: Double]])
        #expect(got.count == cases.count)
        var means = [String: Double]()
        for (i, c) in cases.enumerated() {
            for metric in ["rouge1", "rouge2", "rougeL", "rougeLsum"] {
                let want = (c[metric] as! [Double])[fIndex]
                #expect(abs((got[i][metric] ?? .nan) - want) < 1e-9, "\(c["name"] ?? i) \(metric)")
                means[metric, default: 0] += want / Double(cases.count)
            }
        }
        let mean = try #require(out["mean"] as? [String: Double])
        for (metric, want) in means { #expect(abs((mean[metric] ?? .nan) - want) < 1e-9) }
        let bad = try scratch.write("bad.jsonl", Data("{\"prediction\": \"a\"}\n".utf8))
        let failed = try CLI.run(["rouge", "--pairs", bad.path, "--json"])
        #expect(failed.exitCode != 0 && failed.stderr.contains("line 1"))
    }

    @Test func evalComparesBaseAndAdapters() throws {
        let data = CLI.repo.appendingPathComponent("assets/dialogsum/dialogsum.test.jsonl")
        let r = try CLI.run(["eval", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--data", data.path, "--limit", "3", "--max-new-tokens", "8",
                             "--adapter", "lora=" + CLI.fixtures.appendingPathComponent("tiny-flan/adapters/lora-qv").path, "--json"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        let out = CLI.json(r)
        #expect(out["examples"] as? Int == 3)
        let rows = try #require(out["rows"] as? [[String: Any]])
        #expect(rows.map { $0["candidate"] as? String } == ["base", "lora"])
        for row in rows {
            for metric in ["rouge1", "rouge2", "rougeL", "rougeLsum"] {
                let v = try #require(row[metric] as? Double)
                #expect(v >= 0 && v <= 1)
            }
            #expect((row["mean_output_tokens"] as? Double ?? 0) > 0 && (row["summaries_per_second"] as? Double ?? 0) > 0)
        }
        let change = try #require(rows[1]["change_vs_base"] as? [String: Double])
        #expect(abs(change["rouge1"]! - ((rows[1]["rouge1"] as! Double) - (rows[0]["rouge1"] as! Double))) < 1e-12)
        let text = try CLI.run(["eval", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                                "--data", data.path, "--limit", "2", "--max-new-tokens", "4"])
        #expect(text.exitCode == 0 && text.stdoutText.contains("rougeLsum") && text.stdoutText.contains("base"))
    }
}

import Foundation
import HTTPTesting
import Testing

/// `adapter-serve merge` as users run it: the merged snapshot (with tokenizer files) generates
/// transformers' tokens through `generate`, a combined adapter generates PEFT's tokens, and bad
/// requests get messages (references from scripts/reference/make_merge_fixtures.py).
@Suite(.serialized) struct MergeCLITests {
    static let merge = CLI.repo.appendingPathComponent("Tests/Fixtures/merge")

    static func firstCase(_ expected: URL) throws -> (text: String, tokens: [Int]) {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: expected)) as? [String: Any])
        let c = try #require((json["cases"] as? [[String: Any]])?.first { $0["id"] as? String == "greedy-d0" })
        return (c["text"] as! String, c["token_ids"] as! [Int])
    }

    @Test func mergedSnapshotCarriesTokenizerFilesAndGeneratesTransformersTokens() throws {
        let scratch = try TemporaryDirectory()
        // A base directory laid out like a Hub snapshot: weights, config, tokenizer files.
        let base = scratch.url.appendingPathComponent("base")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        for f in ["model.safetensors", "config.json"] {
            try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("tiny-flan/\(f)"), to: base.appendingPathComponent(f))
        }
        let companions = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]
        for f in companions {
            try FileManager.default.copyItem(at: CLI.tokenizer.appendingPathComponent(f), to: base.appendingPathComponent(f))
        }
        let out = scratch.url.appendingPathComponent("merged")
        let r = try CLI.run(["merge", "--model", base.path, "--adapter", CLI.fixtures.appendingPathComponent("tiny-flan/adapters/lora-all-rslora").path,
                             "--out", out.path])
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect(r.stdoutText.contains("merged 47 Linear weight(s)"))
        for f in companions + ["config.json"] {
            #expect(try Data(contentsOf: out.appendingPathComponent(f)) == Data(contentsOf: base.appendingPathComponent(f)), "\(f)")
        }
        let want = try Self.firstCase(Self.merge.appendingPathComponent("tiny-flan/merged/lora-all-rslora/expected.json"))
        // No --tokenizer: the snapshot's own tokenizer files are used.
        let g = try CLI.run(["generate", "--model", out.path, "--text", want.text, "--max-new-tokens", "20", "--json"])
        #expect(g.exitCode == 0, "\(g.stderr)")
        #expect(CLI.json(g)["token_ids"] as? [Int] == want.tokens)
    }

    @Test func combinedAdapterGeneratesPEFTTokens() throws {
        let scratch = try TemporaryDirectory()
        let out = scratch.url.appendingPathComponent("combined")
        let adapters = CLI.fixtures.appendingPathComponent("tiny-flan/adapters")
        let r = try CLI.run(["merge", "--adapter", adapters.appendingPathComponent("lora-qv").path,
                             "--adapter", adapters.appendingPathComponent("lora-patterns").path,
                             "--weights", "0.7,-0.3", "--combination", "cat", "--out", out.path])
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect(r.stdoutText.contains("cat, r=40"))
        let want = try Self.firstCase(Self.merge.appendingPathComponent("tiny-flan/combined/cat-qv-patterns/expected.json"))
        let g = try CLI.run(["generate", "--model", CLI.fixtures.appendingPathComponent("tiny-flan").path, "--tokenizer", CLI.tokenizer.path,
                             "--adapter", out.path, "--text", want.text, "--max-new-tokens", "20", "--json"])
        #expect(g.exitCode == 0, "\(g.stderr)")
        #expect(CLI.json(g)["token_ids"] as? [Int] == want.tokens)
    }

    /// DoRA merged into the base through the CLI, then generated from with no adapter.
    @Test func mergedDoRASnapshotGeneratesTransformersTokens() throws {
        let scratch = try TemporaryDirectory()
        let out = scratch.url.appendingPathComponent("merged")
        let model = CLI.fixtures.appendingPathComponent("tiny-flan").path
        let r = try CLI.run(["merge", "--model", model, "--adapter", CLI.fixtures.appendingPathComponent("tiny-flan/adapters/dora-qv").path,
                             "--out", out.path])
        #expect(r.exitCode == 0, "\(r.stderr)")
        let want = try Self.firstCase(Self.merge.appendingPathComponent("tiny-flan/merged/dora-qv/expected.json"))
        let g = try CLI.run(["generate", "--model", out.path, "--tokenizer", CLI.tokenizer.path, "--text", want.text,
                             "--max-new-tokens", "20", "--json"])
        #expect(g.exitCode == 0, "\(g.stderr)")
        #expect(CLI.json(g)["token_ids"] as? [Int] == want.tokens)
    }

    /// IA3's weighted sum (no --combination) and a DoRA-first cat (with --model for the
    /// magnitude) through the CLI generate PEFT's tokens with the combined adapter.
    @Test(arguments: [("ia3-all-default", ["ia3-all", "ia3-default"], ["--weights", "0.7,0.3"]),
                      ("cat-dora-first", ["dora-qv", "lora-qv"], ["--weights", "0.7,0.3", "--combination", "cat", "--model", "MODEL"])])
    func combinedMethodAdapterGeneratesPEFTTokens(_ id: String, _ names: [String], _ options: [String]) throws {
        let scratch = try TemporaryDirectory()
        let out = scratch.url.appendingPathComponent("combined")
        let model = CLI.fixtures.appendingPathComponent("tiny-flan").path
        let adapters = names.flatMap { ["--adapter", CLI.fixtures.appendingPathComponent("tiny-flan/adapters/\($0)").path] }
        let r = try CLI.run(["merge"] + adapters + options.map { $0 == "MODEL" ? model : $0 } + ["--out", out.path])
        #expect(r.exitCode == 0, "\(r.stderr)")
        let want = try Self.firstCase(Self.merge.appendingPathComponent("tiny-flan/combined/\(id)/expected.json"))
        let g = try CLI.run(["generate", "--model", model, "--tokenizer", CLI.tokenizer.path,
                             "--adapter", out.path, "--text", want.text, "--max-new-tokens", "20", "--json"])
        #expect(g.exitCode == 0, "\(g.stderr)")
        #expect(CLI.json(g)["token_ids"] as? [Int] == want.tokens)
    }

    @Test func badRequestsGetMessages() throws {
        let scratch = try TemporaryDirectory()
        let model = CLI.fixtures.appendingPathComponent("tiny-flan").path
        let adapters = CLI.fixtures.appendingPathComponent("tiny-flan/adapters")
        let qv = adapters.appendingPathComponent("lora-qv").path, regex = adapters.appendingPathComponent("lora-regex").path
        func fails(_ args: [String], _ text: String) throws {
            let r = try CLI.run(["merge"] + args)
            #expect(r.exitCode != 0 && r.stderr.contains(text), "\(args): \(r.stderr)")
        }
        try fails(["--model", model, "--adapter", adapters.appendingPathComponent("prompt-20").path, "--out", scratch.file("p").path], "soft prompt")
        try fails(["--model", model, "--adapter", qv, "--out", scratch.file("d").path, "--dtype", "fp16"], "--dtype must be fp32 or bf16")
        try fails(["--model", model, "--adapter", qv, "--adapter", regex, "--out", scratch.file("two").path], "exactly one --adapter")
        try fails(["--adapter", qv, "--adapter", regex, "--out", scratch.file("w").path], "give --weights")
        try fails(["--adapter", qv, "--adapter", regex, "--weights", "0.5,0.5", "--out", scratch.file("c").path], "give --combination cat or linear")
        let ia3 = adapters.appendingPathComponent("ia3-default").path, dora = adapters.appendingPathComponent("dora-qv").path
        let adalora = adapters.appendingPathComponent("adalora-qvwo").path
        try fails(["--adapter", ia3, "--adapter", ia3, "--weights", "0.5,0.5", "--combination", "cat", "--out", scratch.file("i").path], "weighted sum of their vectors")
        try fails(["--adapter", dora, "--adapter", qv, "--weights", "0.5,0.5", "--combination", "cat", "--out", scratch.file("o").path], "--model")
        try fails(["--adapter", adalora, "--adapter", adalora, "--weights", "0.5,0.5", "--combination", "cat", "--out", scratch.file("a").path], "does not support add_weighted_adapter")
        try fails(["--adapter", qv, "--adapter", regex, "--weights", "0.5,x", "--combination", "cat", "--out", scratch.file("x").path], "comma-separated numbers")
        try fails(["--adapter", qv, "--adapter", regex, "--weights", "0.5,0.5", "--combination", "ties", "--out", scratch.file("t").path], "cat or linear")
        try fails(["--adapter", qv, "--adapter", regex, "--weights", "0.5,0.5", "--combination", "linear", "--out", scratch.file("l").path], "equal rank")
        try fails(["--adapter", regex, "--adapter", qv, "--weights", "0.5,0.5", "--combination", "cat", "--out", scratch.file("m").path], "mix list and regex")
        _ = try scratch.write("full/keep.txt", Data("mine".utf8))
        try fails(["--model", model, "--adapter", qv, "--out", scratch.file("full").path], "not an empty directory")
        #expect(try String(contentsOf: scratch.file("full/keep.txt"), encoding: .utf8) == "mine")
        for name in ["p", "d", "two", "w", "c", "i", "o", "a", "x", "t", "l", "m"] {
            #expect(!FileManager.default.fileExists(atPath: scratch.file(name).path), "\(name) was created")
        }
    }
}

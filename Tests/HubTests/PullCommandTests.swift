import Foundation
import HTTPTesting
import Logging
@testable import API
@testable import Serving
import Testing

/// The `adapter-serve pull` command end to end: an adapter from the (fake) Hub lands in the
/// adapters directory through the upload path and a server started on it serves it; failures
/// print the message and exit with their status.
@Suite(.serialized) struct PullCommandTests {
    static let tinyModel = Paths.tinyFlan.path
    static let tokenizer = Paths.tokenizer.path

    func pullAdapter(_ hub: FakeHub, repo: String, name: String, adapters: URL, extra: [String] = [],
                     token: String? = FakeHub.token, offline: Bool = false) throws -> CLIRun {
        try runCLI(["pull", "--adapter", repo, "--name", name, "--adapters", adapters.path, "--model", Self.tinyModel,
                    "--tokenizer", Self.tokenizer] + extra, environment: hub.environment(token: token, offline: offline))
    }

    /// A server on `adapters`, bound to port 0, as `serve` would start it.
    func serve(_ adapters: URL) throws -> (APIServer, String) {
        var s = ServiceSettings()
        s.model = Self.tinyModel
        s.tokenizer = Self.tokenizer
        s.adapters = adapters.path
        s.port = 0
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = APIServer(service: try AdapterServeService(settings: s, logger: logger), logger: logger)
        try server.start()
        return (server, "http://127.0.0.1:\(server.boundPort)")
    }

    @Test func pulledAdapterIsStoredLikeAnUploadAndServed() throws {
        let source = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        let hub = try FakeHub(["tiny/lora-qv": .adapter(source)])
        let scratch = try TemporaryDirectory()
        let adapters = scratch.file("adapters")
        let r = try pullAdapter(hub, repo: "tiny/lora-qv", name: "qv", adapters: adapters)
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect(r.stdout.contains("stored adapter 'qv' (lora"))
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            #expect(try Data(contentsOf: adapters.appendingPathComponent("qv/\(file)")) == Data(contentsOf: source.appendingPathComponent(file)))
        }
        #expect(FileManager.default.fileExists(atPath: adapters.appendingPathComponent("qv/\(AdapterStore.metadataFile)").path))
        #expect(!FileManager.default.fileExists(atPath: adapters.appendingPathComponent("qv/README.md").path))
        // The download staging area is gone once the adapter is stored.
        #expect(!FileManager.default.fileExists(atPath: adapters.appendingPathComponent(".adapter-serve/pull/tiny--lora-qv").path))

        let (server, base) = try serve(adapters)
        defer { server.drainAndStop() }
        let body = try scratch.write("req.json", Data(##"{"dialogue": "#Person1#: hi\n#Person2#: hello", "adapter": "qv", "parameters": {"max_new_tokens": 4}}"##.utf8))
        let res = try curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@\(body.path)", base + "/v1/summarize"])
        #expect(res.status == 200, "\(res.text)")
        let json = try JSONSerialization.jsonObject(with: res.body) as? [String: Any]
        #expect((json?["adapter"] as? [String: Any])?["name"] as? String == "qv")

        // Same name again: refused like a PUT without ?replace=true, accepted with --replace.
        let again = try pullAdapter(hub, repo: "tiny/lora-qv", name: "qv", adapters: adapters)
        #expect(again.exitCode != 0 && again.stderr.contains("already exists"))
        let replaced = try pullAdapter(hub, repo: "tiny/lora-qv", name: "qv", adapters: adapters, extra: ["--replace"])
        #expect(replaced.exitCode == 0, "\(replaced.stderr)")
    }

    /// An adapter made for another base is refused with the very message an upload gets.
    @Test func pulledAdapterIsValidatedExactlyLikeAnUpload() throws {
        let wrongBase = Paths.t5v1Adapters.appendingPathComponent("lora-qv")
        let hub = try FakeHub(["other/lora": .adapter(wrongBase)])
        let scratch = try TemporaryDirectory()
        let adapters = scratch.file("adapters")
        let r = try pullAdapter(hub, repo: "other/lora", name: "wrong", adapters: adapters)
        #expect(r.exitCode != 0)
        #expect(!FileManager.default.fileExists(atPath: adapters.appendingPathComponent("wrong").path))
        #expect(!FileManager.default.fileExists(atPath: adapters.appendingPathComponent(".adapter-serve/pull/other--lora").path))

        let (server, base) = try serve(scratch.file("upload-adapters"))
        defer { server.drainAndStop() }
        let upload = try curl(["-X", "PUT", "-H", "Expect:",
                               "-F", "adapter_config.json=@\(wrongBase.appendingPathComponent("adapter_config.json").path)",
                               "-F", "adapter_model.safetensors=@\(wrongBase.appendingPathComponent("adapter_model.safetensors").path)",
                               base + "/v1/adapters/wrong"])
        #expect(upload.status == 422)
        let message = try #require(((try JSONSerialization.jsonObject(with: upload.body) as? [String: Any])?["error"] as? [String: Any])?["message"] as? String)
        #expect(r.stderr.contains(message), "pull said: \(r.stderr)\nupload said: \(message)")
    }

    @Test func failuresPrintTheirMessageAndExitStatus() throws {
        var privateRepo = FakeRepo.adapter(Paths.tinyAdapters.appendingPathComponent("lora-qv"))
        privateRepo.isPrivate = true
        let hub = try FakeHub(["tiny/private": privateRepo, "tiny/flan": .tinyModel])
        let scratch = try TemporaryDirectory()

        let unauthorised = try pullAdapter(hub, repo: "tiny/private", name: "p", adapters: scratch.file("a"), token: nil)
        #expect(unauthorised.exitCode == 4)
        #expect(unauthorised.stderr.contains("Error: tiny/private needs authentication (401)"))
        #expect(unauthorised.stderr.contains("Set HF_TOKEN"))

        let offlineAdapter = try pullAdapter(hub, repo: "tiny/private", name: "p", adapters: scratch.file("a"), offline: true)
        #expect(offlineAdapter.exitCode == 8 && offlineAdapter.stderr.contains("HF_HUB_OFFLINE is set, so tiny/private cannot be fetched"))

        let offline = try runCLI(["pull", "tiny/flan", "--dir", scratch.file("m").path], environment: hub.environment(offline: true))
        #expect(offline.exitCode == 8)
        #expect(offline.stderr.contains("HF_HUB_OFFLINE is set, so nothing is downloaded"))
        #expect(try hub.log().filter { $0.path.hasPrefix("/api/models/tiny/flan") }.isEmpty)

        let model = try runCLI(["pull", "tiny/flan", "--dir", scratch.file("m").path], environment: hub.environment())
        #expect(model.exitCode == 0, "\(model.stderr)")
        #expect(model.stderr.contains("downloading model.safetensors (4.2 MB)"))
        #expect(model.stderr.contains("model.safetensors: done, sha256 verified"))
        let offlineAgain = try runCLI(["pull", "tiny/flan", "--dir", scratch.file("m").path], environment: hub.environment(offline: true))
        #expect(offlineAgain.exitCode == 0 && offlineAgain.stdout.contains("offline, nothing fetched"))

        var env = hub.environment()
        env["HF_ENDPOINT"] = "http://127.0.0.1:9"
        let unreachable = try runCLI(["pull", "tiny/flan", "--dir", scratch.file("n").path, "--connect-timeout", "2"], environment: env)
        #expect(unreachable.exitCode == 3)
        #expect(unreachable.stderr.contains("cannot reach http://127.0.0.1:9"))

        let usage = try runCLI(["pull", "--adapter", "tiny/private"], environment: hub.environment())
        #expect(usage.exitCode != 0 && usage.stderr.contains("--name"))
    }
}

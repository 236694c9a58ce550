import Foundation
import HTTPTesting
import Hub

/// Committed fixtures and assets, found from this file.
enum Paths {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tinyFlan = repo.appendingPathComponent("Tests/Fixtures/models/tiny-flan")
    static let tinyAdapters = tinyFlan.appendingPathComponent("adapters")
    static let t5v1Adapters = repo.appendingPathComponent("Tests/Fixtures/models/tiny-t5v1/adapters")
    static let tokenizer = repo.appendingPathComponent("assets/flan-t5-base")
    static let fakeHubScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("fake_hub.py")
    /// Built beside the test bundle by `swift build --build-tests`.
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("adapter-serve")
}

/// A repository the fake Hub serves: file name -> (source file, stored with LFS?).
struct FakeRepo {
    var files: [String: (URL, lfs: Bool)]
    var commit = "4f2c1f7e0d9b8a7c6e5d4c3b2a1f0e9d8c7b6a59"
    var isPrivate = false
    var gated = false

    /// tiny-flan as a model repository, with files serving does not need beside the ones it does.
    static let tinyModel = FakeRepo(files: [
        "config.json": (Paths.tinyFlan.appendingPathComponent("config.json"), false),
        "model.safetensors": (Paths.tinyFlan.appendingPathComponent("model.safetensors"), true),
        "generation_config.json": (Paths.tokenizer.appendingPathComponent("generation_config.json"), false),
        "tokenizer.json": (Paths.tokenizer.appendingPathComponent("tokenizer.json"), true),
        "tokenizer_config.json": (Paths.tokenizer.appendingPathComponent("tokenizer_config.json"), false),
        "special_tokens_map.json": (Paths.tokenizer.appendingPathComponent("special_tokens_map.json"), false),
        "expected.json": (Paths.tinyFlan.appendingPathComponent("expected.json"), false),
        "logits.safetensors": (Paths.tinyFlan.appendingPathComponent("logits.safetensors"), true),
    ])

    static func adapter(_ dir: URL) -> FakeRepo {
        FakeRepo(files: [
            "adapter_config.json": (dir.appendingPathComponent("adapter_config.json"), false),
            "adapter_model.safetensors": (dir.appendingPathComponent("adapter_model.safetensors"), true),
            "README.md": (Paths.repo.appendingPathComponent("NOTICE"), false),
        ])
    }

    /// The files `pull` must fetch for tiny-flan, in no particular order.
    static let tinyModelServingFiles: Set<String> = ["config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                                                     "tokenizer_config.json", "special_tokens_map.json"]
}

/// One request as the fake Hub logged it.
struct Served: Decodable {
    let server: String
    let path: String
    let range: String?
    let authorization: String?
    let status: Int?
    let bytes: Int
}

/// The fake Hub (Tests/HubTests/fake_hub.py) as a child process: the Hub on 127.0.0.1 and its
/// CDN on 127.0.0.2, both on ports the OS picks. It exits when this object goes away.
final class FakeHub {
    static let token = "hf_fake_test_token"
    let endpoint: String
    let cdn: String
    private let process = Process()
    private let input = Pipe()
    private let scratch: TemporaryDirectory

    init(_ repos: [String: FakeRepo]) throws {
        scratch = try TemporaryDirectory()
        var config: [String: Any] = ["token": Self.token]
        var repoJSON: [String: Any] = [:]
        for (id, repo) in repos {
            var files: [String: Any] = [:]
            for (name, spec) in repo.files { files[name] = ["path": spec.0.path, "lfs": spec.lfs] }
            repoJSON[id] = ["commit": repo.commit, "private": repo.isPrivate, "gated": repo.gated, "files": files]
        }
        config["repos"] = repoJSON
        let configFile = try scratch.write("fake-hub.json", try JSONSerialization.data(withJSONObject: config))
        let output = Pipe()
        let errors = scratch.file("fake-hub.err")
        FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Paths.fakeHubScript.path, configFile.path]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        // The first line names the two servers; reading it is the synchronisation.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else {
                throw FakeHubFailure(message: "fake Hub did not start: \(String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self))")
            }
            line.append(chunk)
        }
        let urls = try JSONSerialization.jsonObject(with: line) as? [String: String] ?? [:]
        endpoint = urls["hub"] ?? ""
        cdn = urls["cdn"] ?? ""
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// Faults for the next transfers: ["cut": [file: offset]], ["corrupt": [file: offset]],
    /// ["status": [file: code]], ["clear": true].
    func control(_ body: [String: Any]) throws {
        let file = try scratch.write("control-\(UUID().uuidString).json", try JSONSerialization.data(withJSONObject: body))
        let r = try curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@\(file.path)", endpoint + "/_control"])
        guard r.status == 200 else { throw FakeHubFailure(message: "control failed: \(r.status)") }
    }

    /// Every request served so far (the fake answers once none is in flight).
    func log() throws -> [Served] {
        let r = try curl([endpoint + "/_log"])
        return try JSONDecoder().decode([Served].self, from: r.body)
    }

    /// The settings a user would get with HF_ENDPOINT pointing here and `token` as HF_TOKEN.
    func settings(token: String? = FakeHub.token, resumeAttempts: Int = 3) -> HubSettings {
        var s = HubSettings(endpoint: endpoint, token: token, offline: false)
        s.connectTimeoutSeconds = 5
        s.resumeAttempts = resumeAttempts
        return s
    }

    /// Environment for running the adapter-serve binary against this Hub.
    func environment(token: String? = FakeHub.token, offline: Bool = false) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["HF_ENDPOINT"] = endpoint
        env["HF_TOKEN"] = token
        env["HF_HUB_OFFLINE"] = offline ? "1" : nil
        return env
    }
}

struct FakeHubFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Progress output captured instead of printed.
final class CapturedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var text: String { lock.lock(); defer { lock.unlock() }; return lines.joined() }
    lazy var reporter = ProgressReporter(interactive: false, write: { [unowned self] s in
        lock.lock(); lines.append(s); lock.unlock()
    })
}

struct CLIRun {
    let exitCode: Int32
    let stdout: String
    let stderr: String
}

/// Runs adapter-serve with an environment.
func runCLI(_ args: [String], environment: [String: String]) throws -> CLIRun {
    let scratch = try TemporaryDirectory()
    let out = scratch.file("out"), err = scratch.file("err")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    process.executableURL = Paths.binary
    process.arguments = args
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    process.waitUntilExit()
    return CLIRun(exitCode: process.terminationStatus,
                  stdout: String(decoding: (try? Data(contentsOf: out)) ?? Data(), as: UTF8.self),
                  stderr: String(decoding: (try? Data(contentsOf: err)) ?? Data(), as: UTF8.self))
}

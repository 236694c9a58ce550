import Foundation
import HTTPCore
import HTTPTesting
import Logging
@testable import API
@testable import Serving

/// Paths to committed fixtures and assets, found from this file.
enum Paths {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tinyFlan = repo.appendingPathComponent("Tests/Fixtures/models/tiny-flan")
    static let tinyAdapters = tinyFlan.appendingPathComponent("adapters")
    static let tokenizer = repo.appendingPathComponent("assets/flan-t5-base")
    static let dialogSum = repo.appendingPathComponent("assets/dialogsum")
    static let lab = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
}

/// The service on a live server bound to port 0, with a fresh adapters directory.
final class LiveService: @unchecked Sendable {
    let service: AdapterServeService
    let server: APIServer
    let adaptersDir: URL
    var base: String { "http://127.0.0.1:\(server.boundPort)" }

    init(adaptersDir: URL? = nil, configure: (inout ServiceSettings) -> Void = { _ in }) throws {
        var s = ServiceSettings()
        s.model = Paths.tinyFlan.path
        s.tokenizer = Paths.tokenizer.path
        self.adaptersDir = adaptersDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("adapters-\(UUID().uuidString)")
        s.adapters = self.adaptersDir.path
        s.port = 0
        s.maxBodyBytes = 4 << 20
        configure(&s)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        service = try AdapterServeService(settings: s, logger: logger)
        server = APIServer(service: service, logger: logger)
        try server.start()
    }

    func stop() { server.drainAndStop() }

    /// A request with curl, a real HTTP client.
    func call(_ method: String, _ path: String, json: Any? = nil, body: Data? = nil, headers: [String] = [],
              extra: [String] = []) throws -> CurlResponse {
        var args = ["-X", method]
        for h in headers { args += ["-H", h] }
        let scratch = try TemporaryDirectory()
        if let json {
            let data = try JSONSerialization.data(withJSONObject: json)
            args += ["-H", "Content-Type: application/json", "--data-binary", "@" + (try scratch.write("body.json", data)).path]
        } else if let body {
            args += ["--data-binary", "@" + (try scratch.write("body.bin", body)).path]
        }
        return try curl(args + extra + [base + path])
    }

    /// PUT a PEFT adapter directory as multipart/form-data.
    func upload(_ name: String, from dir: URL, query: String = "", headers: [String] = []) throws -> CurlResponse {
        var args = ["-X", "PUT", "-H", "Expect:"]
        for h in headers { args += ["-H", h] }
        args += ["-F", "adapter_config.json=@\(dir.appendingPathComponent("adapter_config.json").path)",
                 "-F", "adapter_model.safetensors=@\(dir.appendingPathComponent("adapter_model.safetensors").path)"]
        return try curl(args + [base + "/v1/adapters/\(name)\(query)"])
    }
}

extension CurlResponse {
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
    var tokenIDs: [Int32] { (json["token_ids"] as? [Int] ?? []).map(Int32.init) }
    var adapterName: String? { (json["adapter"] as? [String: Any])?["name"] as? String }
    var adapterSHA: String? { (json["adapter"] as? [String: Any])?["sha256"] as? String }
}

/// The committed transformers/PEFT references for the tiny model (Tests/Fixtures/models/tiny-flan).
struct Reference {
    let id: String
    let adapters: [String]
    let text: String
    let params: [String: Any]
    let tokenIDs: [Int32]

    /// expected.json (base, LoRA, soft prompts) and expected-methods.json (IA3, DoRA, AdaLoRA).
    static func all() -> [Reference] { load("expected.json") + load("expected-methods.json") }

    static func load(_ file: String) -> [Reference] {
        guard let data = try? Data(contentsOf: Paths.tinyFlan.appendingPathComponent(file)),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let cases = json["cases"] as? [[String: Any]] else { return [] }
        return cases.map { Reference(id: $0["id"] as! String, adapters: $0["adapters"] as? [String] ?? [],
                                     text: $0["text"] as? String ?? "", params: $0["params"] as? [String: Any] ?? [:],
                                     tokenIDs: ($0["token_ids"] as! [Int]).map(Int32.init)) }
    }

    /// The dialogue, when the text is the lab prompt around one.
    var dialogue: String? {
        let parts = Paths.lab.components(separatedBy: "{dialogue}")
        guard text.hasPrefix(parts[0]), text.hasSuffix(parts[1]), text.count >= parts[0].count + parts[1].count else { return nil }
        return String(text.dropFirst(parts[0].count).dropLast(parts[1].count))
    }

    /// Greedy or beam cases on the lab prompt, usable through /v1/summarize.
    static func summarizable(adapters: [String]) -> [Reference] {
        all().filter { $0.adapters == adapters && $0.dialogue != nil }
    }
}

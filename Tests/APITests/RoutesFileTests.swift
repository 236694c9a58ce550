import Foundation
import HTTPTesting
import Testing
@testable import Serving

/// Issue 11 item 6: the routes file is written atomically with a backup; a damaged one is
/// reported (log and /readyz) and the backup used, so no route disappears in silence.
@Suite(.serialized) struct RoutesFileTests {
    static let good = Paths.tinyAdapters.appendingPathComponent("lora-qv")

    func state(_ dir: URL) -> URL { dir.appendingPathComponent(".adapter-serve") }

    func routes(in file: URL) throws -> [String: String] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        return json?["tasks"] as? [String: String] ?? [:]
    }

    func problems(_ r: CurlResponse) -> [String] { r.json["problems"] as? [String] ?? [] }

    /// Two activations: routes.json has both, routes.json.bak the version before the last write.
    func seed(_ dir: URL) throws {
        let live = try LiveService(adaptersDir: dir)
        defer { live.stop() }
        #expect(try live.upload("a", from: Self.good).status == 201)
        #expect(try live.call("POST", "/v1/adapters/a/activate", json: ["task": "first"]).status == 200)
        #expect(try live.call("POST", "/v1/adapters/a/activate", json: ["task": "second"]).status == 200)
        #expect(try routes(in: state(dir).appendingPathComponent("routes.json")) == ["first": "a", "second": "a"])
        #expect(try routes(in: state(dir).appendingPathComponent("routes.json.bak")) == ["first": "a"])
        let ready = try live.call("GET", "/readyz")
        #expect(ready.status == 200 && problems(ready).isEmpty, "\(ready.text)")
    }

    @Test func truncatedRoutesFileFallsBackToTheBackup() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(UUID().uuidString)")
        try seed(dir)
        let file = state(dir).appendingPathComponent("routes.json")
        let bytes = try Data(contentsOf: file)
        try bytes.prefix(bytes.count / 2).write(to: file)

        let live = try LiveService(adaptersDir: dir)
        defer { live.stop() }
        #expect(live.service.tasks() == ["first": "a"], "the backup's routes are served")
        let ready = try live.call("GET", "/readyz")
        #expect(ready.status == 200, "\(ready.text)")
        let found = problems(ready).joined(separator: "\n")
        #expect(found.contains("routes.json is damaged"), "\(found)")
        #expect(found.contains("restored from the backup"), "\(found)")
        // The next change writes a whole file again, and the damaged one never becomes the backup.
        #expect(try live.call("POST", "/v1/adapters/a/activate", json: ["task": "third"]).status == 200)
        #expect(try routes(in: file) == ["first": "a", "third": "a"])
        #expect(try routes(in: state(dir).appendingPathComponent("routes.json.bak")) == ["first": "a"])
    }

    @Test func bothDamagedIsNotReadyUntilRoutesAreWrittenAgain() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(UUID().uuidString)")
        try seed(dir)
        try Data("{\"tasks\": {\"first\": ".utf8).write(to: state(dir).appendingPathComponent("routes.json"))
        try Data("[]".utf8).write(to: state(dir).appendingPathComponent("routes.json.bak"))

        let live = try LiveService(adaptersDir: dir)
        defer { live.stop() }
        let ready = try live.call("GET", "/readyz")
        #expect(ready.status == 503, "\(ready.text)")
        #expect(ready.json["status"] as? String == "degraded")
        #expect(problems(ready).joined().contains("backup is damaged too"), "\(ready.text)")
        #expect(try live.call("POST", "/v1/adapters/a/activate", json: ["task": "first"]).status == 200)
        #expect(try live.call("GET", "/readyz").status == 200)
    }

    @Test func routeToAMissingAdapterIsReported() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(UUID().uuidString)")
        try seed(dir)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("a/adapter_model.safetensors"))
        let live = try LiveService(adaptersDir: dir)
        defer { live.stop() }
        let found = problems(try live.call("GET", "/readyz")).joined(separator: "\n")
        #expect(found.contains("adapter 'a' was not loaded"), "\(found)")
        #expect(found.contains("task 'first' routes to adapter 'a'"), "\(found)")
    }
}

import Foundation
import HTTPTesting
import Testing
@testable import Serving

/// The path-traversal reproductions of issue 11, over HTTP with curl against a live server: every
/// operation that takes an adapter name refuses names that leave the adapters directory, our own
/// `.adapter-serve` folder, and symbolic links, with a 4xx; nothing outside is touched.
@Suite(.serialized) struct AdapterPathSafetyTests {
    /// A scratch tree: `adapters/` served, `outside/target_dir/` beside it holding a file that
    /// must survive every request.
    final class Tree {
        let root: URL
        var adapters: URL { root.appendingPathComponent("adapters") }
        var target: URL { root.appendingPathComponent("outside/target_dir") }
        var witness: URL { target.appendingPathComponent("keep.txt") }
        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("traversal-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            try Data("precious".utf8).write(to: witness)
        }
        var intact: Bool { (try? Data(contentsOf: witness)) == Data("precious".utf8) }
        deinit { try? FileManager.default.removeItem(at: root) }
    }

    func expect4xx(_ r: CurlResponse, _ label: String) {
        #expect((400..<500).contains(r.status), "\(label): got \(r.status) \(r.text)")
        #expect(r.errorMessage?.isEmpty == false, "\(label): no JSON error body: \(r.text)")
    }

    @Test func deleteCannotLeaveTheAdaptersDirectory() throws {
        let tree = try Tree()
        let live = try LiveService(adaptersDir: tree.adapters)
        defer { live.stop() }
        let good = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        #expect(try live.upload("kept", from: good).status == 201)
        let names = ["..%2Foutside%2Ftarget_dir", "..%2Foutside%2Ftarget_dir?force=true", "%2e%2e?force=true", "%2E%2E",
                     ".adapter-serve?force=true", ".adapter-serve%2Ftmp?force=true", "%2e?force=true",
                     "kept%2F..%2F..%2Foutside%2Ftarget_dir?force=true", ".hidden"]
        for name in names {
            expect4xx(try live.call("DELETE", "/v1/adapters/\(name)", extra: ["--path-as-is"]), "DELETE \(name)")
            #expect(tree.intact, "DELETE \(name) touched the outside directory")
        }
        // The adapters directory, its internal folder and the stored adapter are all still there.
        #expect(FileManager.default.fileExists(atPath: tree.adapters.appendingPathComponent(".adapter-serve/tmp").path))
        #expect(try live.call("GET", "/v1/adapters/kept").status == 200)
    }

    @Test func everyOperationRefusesTraversalNames() throws {
        let tree = try Tree()
        let live = try LiveService(adaptersDir: tree.adapters)
        defer { live.stop() }
        let good = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        for encoded in ["..%2Foutside%2Ftarget_dir", "%2e%2e", ".adapter-serve"] {
            let decoded = encoded.removingPercentEncoding!
            expect4xx(try live.call("GET", "/v1/adapters/\(encoded)", extra: ["--path-as-is"]), "GET \(encoded)")
            expect4xx(try live.upload(encoded, from: good, query: "?replace=true"), "PUT \(encoded)")
            expect4xx(try live.call("POST", "/v1/adapters/\(encoded)/activate", json: ["task": "t"], extra: ["--path-as-is"]),
                      "activate \(encoded)")
            expect4xx(try live.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: Hi.", "adapter": decoded]),
                      "summarize with \(decoded)")
            #expect(tree.intact)
        }
        #expect(!FileManager.default.fileExists(atPath: tree.target.appendingPathComponent("adapter_config.json").path))
        #expect(live.service.tasks().isEmpty)
    }

    /// The store itself refuses, so no future caller (CLI, pull, another endpoint) can get past it.
    @Test func storeRefusesBadNamesForEveryOperation() throws {
        let tree = try Tree()
        let store = try AdapterStore(root: tree.adapters)
        for name in ["../outside/target_dir", "..", ".", ".adapter-serve", "a/b", "", ".x"] {
            #expect(throws: ServiceError.self, "directory(for: \(name))") { try store.directory(for: name) }
            #expect(throws: ServiceError.self, "delete \(name)") { try store.delete(name) }
            #expect(throws: ServiceError.self, "exists \(name)") { try store.exists(name) }
            #expect(throws: ServiceError.self, "store \(name)") {
                try store.store(name: name, files: ["adapter_config.json": Data("{}".utf8)], metadata: Data())
            }
        }
        #expect(tree.intact)
    }

    /// A link planted in the adapters directory (pointing at a real adapter outside it) is
    /// refused at start-up and by every request: never loaded, served or deleted through.
    @Test func symbolicLinksAreRefused() throws {
        let tree = try Tree()
        let fm = FileManager.default
        try fm.createDirectory(at: tree.adapters, withIntermediateDirectories: true)
        let good = Paths.tinyAdapters.appendingPathComponent("lora-qv")
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            try fm.copyItem(at: good.appendingPathComponent(file), to: tree.target.appendingPathComponent(file))
        }
        try fm.createSymbolicLink(at: tree.adapters.appendingPathComponent("linked"), withDestinationURL: tree.target)
        // A real directory whose weights file is a link out.
        let inner = tree.adapters.appendingPathComponent("innerlink")
        try fm.createDirectory(at: inner, withIntermediateDirectories: true)
        try fm.copyItem(at: good.appendingPathComponent("adapter_config.json"), to: inner.appendingPathComponent("adapter_config.json"))
        try fm.createSymbolicLink(at: inner.appendingPathComponent("adapter_model.safetensors"),
                                  withDestinationURL: tree.target.appendingPathComponent("adapter_model.safetensors"))

        let live = try LiveService(adaptersDir: tree.adapters)
        defer { live.stop() }
        #expect(live.service.skippedAdapters["linked"] != nil, "the link is reported, not loaded")
        #expect(live.service.skippedAdapters["innerlink"] != nil, "a linked weights file is reported, not loaded")
        expect4xx(try live.call("GET", "/v1/adapters/linked"), "GET linked")
        expect4xx(try live.call("DELETE", "/v1/adapters/linked?force=true"), "DELETE linked")
        expect4xx(try live.upload("linked", from: good, query: "?replace=true"), "PUT over the link")
        expect4xx(try live.call("POST", "/v1/adapters/linked/activate", json: ["task": "t"]), "activate linked")
        #expect(tree.intact)
        #expect(fm.fileExists(atPath: tree.target.appendingPathComponent("adapter_model.safetensors").path))
        #expect((try? fm.destinationOfSymbolicLink(atPath: tree.adapters.appendingPathComponent("linked").path)) != nil)
    }
}

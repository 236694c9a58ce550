import Foundation
import Testing
@testable import T5

/// The PEFT/transformers references written by scripts/reference/make_merge_fixtures.py.
enum MergeFixtures {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let models = tests.appendingPathComponent("Fixtures/models")
    static let root = tests.appendingPathComponent("Fixtures/merge")

    /// A committed adapter, or one of the extra partners made by the merge fixture script.
    static func adapter(_ model: String, _ name: String) -> URL {
        let local = models.appendingPathComponent("\(model)/adapters/\(name)")
        return FileManager.default.fileExists(atPath: local.path) ? local : root.appendingPathComponent("\(model)/adapters/\(name)")
    }

    static func json(_ url: URL) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], "\(url.path)")
    }

    /// One recorded generation: the input ids, the parameters and transformers'/PEFT's tokens.
    struct Generation: Sendable {
        let id: String
        let request: GenerationRequest
        let tokens: [Int32]
    }

    static func generations(_ expected: [String: Any]) throws -> [Generation] {
        let cases = try #require(expected["cases"] as? [[String: Any]])
        return cases.map { c in
            let p = c["params"] as? [String: Any] ?? [:]
            var g = GenerationParameters()
            g.maxNewTokens = p["max_new_tokens"] as? Int ?? 20
            g.numBeams = p["num_beams"] as? Int ?? 1
            return Generation(id: c["id"] as! String,
                              request: GenerationRequest(ids: (c["input_ids"] as! [Int]).map(Int32.init), adapter: nil, parameters: g),
                              tokens: (c["token_ids"] as! [Int]).map(Int32.init))
        }
    }

    /// Subdirectory names of `<model>/<kind>/` for both tiny models, as "model/name".
    static func cases(_ kind: String) -> [String] {
        ["tiny-flan", "tiny-t5v1"].flatMap { model in
            ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("\(model)/\(kind)").path)) ?? [])
                .sorted().map { "\(model)/\($0)" }
        }
    }

    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("merge-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// max |a - b| <= 1e-6 * max |b|: the per-tensor contract.
    static func withinContract(_ a: [Float], _ b: [Float]) -> (ok: Bool, error: Float, scale: Float) {
        let scale = b.map(abs).max() ?? 0
        let error = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        return (a.count == b.count && error <= 1e-6 * scale, error, scale)
    }
}

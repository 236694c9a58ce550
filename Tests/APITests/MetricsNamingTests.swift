import Foundation
import HTTPTesting
import Testing
@testable import API

/// /metrics follows the Prometheus naming guide and keeps label values bounded.
@Suite(.serialized) struct MetricsNamingTests {
    static func families(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            out[String(parts[2])] = String(parts[3])
        }
        return out
    }

    @Test func namesTypesAndAdapterLabels() throws {
        let live = try LiveService()
        defer { live.stop() }
        #expect(try live.upload("lq", from: Paths.tinyAdapters.appendingPathComponent("lora-qv")).status == 201)
        #expect(try live.call("POST", "/v1/completions", json: ["model": "lq", "prompt": "Hello", "max_tokens": 2]).status == 200)
        for i in 0..<3 { _ = try live.call("GET", "/v1/adapters/random-\(i)-\(UUID().uuidString)") }
        let text = try live.call("GET", "/metrics").text
        let families = Self.families(text)
        for (name, type) in families {
            #expect((type == "counter") == name.hasSuffix("_total"), "\(name) is a \(type)")
        }
        #expect(families["adapterserve_adapter_loads_total"] == "counter" && families["adapterserve_adapter_evictions_total"] == "counter")
        #expect(families["adapterserve_time_to_first_token_seconds"] == "histogram")
        #expect(families["adapterserve_time_between_tokens_seconds"] == "histogram")
        #expect(families["adapterserve_adapter_resident"] == "gauge")
        #expect(text.contains(#"adapterserve_adapter_resident{adapter="lq"} 1"#))
        #expect(text.contains(#"adapterserve_adapter_loads_total 1"#))
        #expect(text.contains(#"adapterserve_request_duration_seconds_count{endpoint="/v1/completions",adapter="lq"} 1"#))
        #expect(text.contains(#"adapterserve_tokens_generated_total{adapter="lq"} 2"#))
        // Names that are not adapters never become label values.
        #expect(!text.contains("random-") && text.contains(#"adapter="unknown""#))
    }

    /// The per-token histograms the engine will feed: one first-token and n-1 gap observations.
    @Test func tokenTimingHistogramsRecordPerAdapter() {
        let metrics = Metrics()
        metrics.recordTokenTiming(adapter: "lq", firstToken: 0.2, gaps: [0.01, 0.02, 0.03])
        let text = metrics.registry.emitToString()
        #expect(text.contains(#"adapterserve_time_to_first_token_seconds_count{adapter="lq"} 1"#))
        #expect(text.contains(#"adapterserve_time_to_first_token_seconds_bucket{adapter="lq",le="0.25"} 1"#))
        #expect(text.contains(#"adapterserve_time_between_tokens_seconds_count{adapter="lq"} 3"#))
        #expect(text.contains(#"adapterserve_time_between_tokens_seconds_bucket{adapter="lq",le="0.01"} 1"#))
    }

    @Test func adapterLabelsAreCapped() {
        let metrics = Metrics()
        let names = (0..<(Metrics.adapterLabelCap + 6)).map { "a\($0)" }
        let labels = names.map { metrics.adapterLabel($0, known: { _ in true }) }
        #expect(Set(labels).count == Metrics.adapterLabelCap + 1)
        #expect(labels.prefix(Metrics.adapterLabelCap) == names.prefix(Metrics.adapterLabelCap))
        #expect(labels.suffix(6).allSatisfy { $0 == "other" })
        #expect(metrics.adapterLabel("a0", known: { _ in true }) == "a0")
        #expect(metrics.adapterLabel("", known: { _ in true }) == "none" && metrics.adapterLabel("base", known: { _ in false }) == "base")
        #expect(metrics.adapterLabel("x", known: { _ in false }) == "unknown")
    }
}

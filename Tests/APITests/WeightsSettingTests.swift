import Foundation
import Logging
import Testing
@testable import API
@testable import Serving

/// `weights` (config file), ADAPTER_SERVE_WEIGHTS and `serve --weights`: how the base is held.
/// A format that is not one of fp32, bf16, int8, nf4 is refused with the list, before any load.
@Suite struct WeightsSettingTests {
    @Test func configFileAndEnvironmentSetTheFormat() throws {
        #expect(try JSONDecoder().decode(ServiceSettings.self, from: Data("{}".utf8)).weights == "fp32")
        #expect(try JSONDecoder().decode(ServiceSettings.self, from: Data(#"{"weights": "nf4"}"#.utf8)).weights == "nf4")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ServiceSettings.self, from: Data(#"{"weights": "nf5"}"#.utf8)) }
        var s = ServiceSettings()
        try s.apply(environment: ["ADAPTER_SERVE_WEIGHTS": "int8"])
        #expect(s.weights == "int8")
        do {
            try s.apply(environment: ["ADAPTER_SERVE_WEIGHTS": "fp16"])
            Issue.record("fp16 was accepted")
        } catch {
            #expect(error.kind == .invalidRequest && error.message.contains("fp32, bf16, int8, nf4"))
        }
        #expect(s.weights == "int8")
    }

    /// The fixture model's 64-wide feed-forward outputs (wo) fit NF4's 64-weight blocks; its
    /// 32-wide rows stay fp32. The smaller resident weights show the setting reached the model.
    @Test func serviceLoadsTheBaseInTheFormat() throws {
        let fp32 = try LiveService()
        defer { fp32.stop() }
        let nf4 = try LiveService { $0.weights = "nf4" }
        defer { nf4.stop() }
        #expect(nf4.service.model.weightBytes < fp32.service.model.weightBytes)
        let res = try nf4.call("POST", "/v1/summarize", json: ["dialogue": "#Person1#: hi", "parameters": ["max_new_tokens": 2]])
        #expect(res.status == 200, "\(String(decoding: res.body, as: UTF8.self))")
        #expect(throws: ServiceError.self) { try LiveService { $0.weights = "int4" } }
    }
}

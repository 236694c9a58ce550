import Foundation
import Testing
import Numerics
@testable import T5

/// What bf16 and int8 weight storage cost against fp32 on the fixture checkpoints, teacher-forced
/// on fp32's greedy tokens. The fixture weights are bf16-representable, so bf16 storage differs
/// from fp32 only in summation order; int8 adds per-row quantisation error.
@Suite struct WeightFormatDeviationTests {
    @Test("bf16 and int8 logits stay within their error bounds of fp32", arguments: ReferenceCase.modelNames)
    func deviationFromFP32(_ name: String) throws {
        let reference = try ModelCache.shared.model(name)
        let cases = Array(ReferenceCase.baseOnly.filter { $0.model == name }.prefix(4))
        try #require(!cases.isEmpty)
        for (format, bound) in [(WeightFormat.bf16, Float(1e-5)), (.int8, Float(0.03))] {
            let model = try T5ForConditionalGeneration(directory: FixturePaths.models.appendingPathComponent(name), weightFormat: format)
            #expect(model.weightBytes < reference.weightBytes, "\(format) storage was not used")
            var worst = LogitDeviation()   // over all cases: largest error, largest logit
            var matches = 0, steps = 0
            for c in cases {
                let d = model.logitDeviation(from: reference, ids: c.inputIDs, steps: 12)
                worst.maxAbsError = max(worst.maxAbsError, d.maxAbsError)
                worst.logitScale = max(worst.logitScale, d.logitScale)
                matches += d.top1Matches; steps += d.steps
            }
            #expect(worst.logitScale > 1, "\(name): logits were not compared")
            print("\(name) \(format): max |logit error| \(worst.maxAbsError) at logit scale \(worst.logitScale) (relative \(worst.relativeError)); top-1 agrees on \(matches)/\(steps) steps")
            #expect(worst.relativeError < bound, "\(name) \(format): relative logit error \(worst.relativeError)")
            if format == .bf16 { #expect(matches == steps) }
        }
    }

    /// The fixture prompts are shorter than `WeightMatrix.skinnyRowLimit`, so the test above
    /// never reaches the int8 prefill path, which also quantises activations (per row, u8 with
    /// a zero point) for oneDNN's u8s8s32 GEMM. Every prompt of a model, one after another, is
    /// long enough (the first 256 tokens, a DialogSum-sized prompt). Measured relative logit
    /// errors: with fp32 activations throughout, tiny-flan 0.0133, tiny-t5v1 0.0053; with
    /// quantised prefill activations, 0.0128 and 0.0052; with quantised decode activations too
    /// (VNNI, the default on AVX-512 VNNI machines), 0.0167 and 0.0077. The worst case over the
    /// fixture prompts is 0.0181 (tiny-flan), so the int8 bound stays 0.03.
    @Test("int8 logits with quantised prefill activations stay within the int8 bound", arguments: ReferenceCase.modelNames)
    func quantisedPrefillDeviation(_ name: String) throws {
        let reference = try ModelCache.shared.model(name)
        let ids = Array(ReferenceCase.baseOnly.filter { $0.model == name }.flatMap(\.inputIDs).prefix(256))
        try #require(ids.count > WeightMatrix.skinnyRowLimit)
        let model = try T5ForConditionalGeneration(directory: FixturePaths.models.appendingPathComponent(name), weightFormat: .int8)
        let d = model.logitDeviation(from: reference, ids: ids, steps: 12)
        print("\(name) int8, \(ids.count)-token input (quantised prefill): max |logit error| \(d.maxAbsError) at logit scale \(d.logitScale) (relative \(d.relativeError)); top-1 agrees on \(d.top1Matches)/\(d.steps) steps")
        #expect(d.logitScale > 1, "\(name): logits were not compared")
        #expect(d.relativeError < 0.03, "\(name) int8: relative logit error \(d.relativeError)")
    }
}

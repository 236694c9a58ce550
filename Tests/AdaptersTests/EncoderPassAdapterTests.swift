import Foundation
import Testing
@testable import Adapters
@testable import T5

/// The layer-stepped encoder with adapters in the packed batch (soft-prompt rows, LoRA segments):
/// sequences dropped between layers leave the others' PEFT tokens unchanged, so the rebuilt row
/// segments still give each remaining row its own adapter.
@Suite struct EncoderPassAdapterTests {
    @Test func droppingMixedAdapterSequencesBetweenLayersKeepsPEFTTokens() throws {
        for model in ["tiny-flan", "tiny-t5v1"] {
            let cases = AdapterCase.all.filter { $0.model == model }
            try #require(cases.count >= 4)
            let base = try #require(PEFTParityTests.models[model])
            let weights = try cases.map { try PEFTParityTests().adapterWeights($0) }
            let pass = EncoderPass(model: base, inputs: zip(cases, weights).map { EncoderInput(ids: $0.inputIDs, adapter: $1) })
            pass.runNextLayer()
            let drop = Set(stride(from: 1, to: cases.count, by: 2))
            pass.removeSequences(at: drop)
            let kept = cases.indices.filter { !drop.contains($0) }
            let expectedRows = kept.reduce(0) { $0 + cases[$1].inputIDs.count + (weights[$1].promptLength) }
            #expect(pass.rows == expectedRows)
            let encoded = pass.finish()
            let tasks = zip(encoded, kept).map { GenerationTask(encoded: $0, model: base, parameters: cases[$1].parameters) }
            while tasks.contains(where: { !$0.isFinished }) { base.step(tasks) }
            for (task, i) in zip(tasks, kept) { #expect(task.output == cases[i].tokenIDs, "\(cases[i].testDescription)") }
        }
    }
}

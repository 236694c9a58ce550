import Foundation
import Testing
@testable import T5

/// The layer-stepped encoder (issue 13 item 5): a pass run one layer at a time, with sequences
/// dropped between layers, still generates exactly transformers' tokens for the sequences kept.
@Suite struct EncoderPassTests {
    /// Decodes already-encoded sequences together until every one has finished.
    func generate(_ encoded: [EncodedSequence], _ cases: [ReferenceCase], model: T5ForConditionalGeneration) -> [[Int32]] {
        let tasks = zip(encoded, cases).map { GenerationTask(encoded: $0, model: model, parameters: $1.parameters) }
        while tasks.contains(where: { !$0.isFinished }) { model.step(tasks) }
        return tasks.map(\.output)
    }

    @Test func steppedPassMatchesTransformersAndTheWholeStack() throws {
        for name in ReferenceCase.modelNames {
            let cases = ReferenceCase.load(model: name).filter { $0.adapters.isEmpty }
            try #require(cases.count >= 2)
            let model = try ModelCache.shared.model(name)
            let inputs = cases.map { EncoderInput(ids: $0.inputIDs) }
            let pass = EncoderPass(model: model, inputs: inputs)
            #expect(pass.layerCount == model.config.numLayers && pass.layerCount >= 2)
            var layers = 0
            while !pass.isEncoderDone {
                pass.runNextLayer()
                layers += 1
                #expect(pass.layersDone == layers)
            }
            let stepped = pass.finish()
            let whole = model.encode(inputs)
            // Same code, so the same values; not compared bit for bit, because products split
            // over the workers (a process-wide count other suites change) may round differently.
            for (s, w) in zip(stepped, whole) {
                #expect(s.length == w.length)
                func values(_ e: EncodedSequence) -> [Float] {
                    (e.crossKeys + e.crossValues).flatMap { kv in (0..<kv.length).flatMap { kv.row($0) } }
                }
                let a = values(s), b = values(w)
                let scale = max(1, b.map(abs).max() ?? 1)
                let error = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
                #expect(a.count == b.count && error <= 1e-5 * scale, "max difference \(error), scale \(scale)")
            }
            let tokens = generate(stepped, cases, model: model)
            for (t, c) in zip(tokens, cases) { #expect(t == c.tokenIDs, "\(c.testDescription)") }
        }
    }

    /// Every other sequence leaves after the first layer (its client went away): the rest keep
    /// their transformers tokens, and the dropped rows are no longer computed.
    @Test func sequencesDroppedBetweenLayersLeaveTheOthersExact() throws {
        for name in ReferenceCase.modelNames {
            let cases = ReferenceCase.load(model: name).filter { $0.adapters.isEmpty }
            try #require(cases.count >= 4)
            let model = try ModelCache.shared.model(name)
            let pass = EncoderPass(model: model, inputs: cases.map { EncoderInput(ids: $0.inputIDs) })
            let allRows = pass.rows
            pass.runNextLayer()
            let drop = Set(stride(from: 0, to: cases.count, by: 2))
            let kept = cases.indices.filter { !drop.contains($0) }.map { cases[$0] }
            pass.removeSequences(at: drop)
            #expect(pass.inputs.map(\.ids) == kept.map(\.inputIDs))
            #expect(pass.rows == kept.reduce(0) { $0 + $1.inputIDs.count } && pass.rows < allRows)
            let encoded = pass.finish()
            #expect(encoded.count == kept.count)
            let tokens = generate(encoded, kept, model: model)
            for (t, c) in zip(tokens, kept) { #expect(t == c.tokenIDs, "\(c.testDescription)") }
        }
    }

    @Test func passWithEverySequenceDroppedFinishesEmpty() throws {
        let model = try ModelCache.shared.model("tiny-flan")
        let pass = EncoderPass(model: model, inputs: [EncoderInput(ids: [8774, 296, 1])])
        pass.runNextLayer()
        pass.removeSequences(at: [0])
        #expect(pass.rows == 0 && pass.finish().isEmpty)
    }
}

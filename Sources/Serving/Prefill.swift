import Foundation
import T5

/// What the engine thread just did, in order, for tests and tools that must see the schedule
/// itself (which work ran between which) rather than time it.
public enum EngineEvent: Sendable, Equatable {
    /// One encoder layer of an admission group ran (`layer` counts from 1 to `of`).
    case encoderLayer(layer: Int, of: Int, generations: [GenerationID])
    /// The group's cross-attention caches were computed: these generations join the batch.
    case encoded([GenerationID])
    /// One decoder step ran for these generations.
    case decoderStep([GenerationID])
}

/// A generation whose adapter is resolved, waiting for (or in) the encoder.
struct Admitted {
    let id: GenerationID
    let job: GenerationJob
    let adapter: ResolvedAdapter?
    let enqueued: Date
}

/// One admission group going through the encoder a stage at a time, between decoder steps of
/// the running batch (issue 13 item 5): a long prompt arriving never freezes the requests already
/// generating, and a client that leaves mid-prefill stops its remaining layers (issue 11).
final class Prefill {
    private(set) var members: [Admitted]
    let pass: EncoderPass
    let started: Date

    /// Takes the oldest admitted generations, up to about `rows` packed encoder rows (at least one).
    init(taking admitted: inout [Admitted], rows limit: Int, model: T5ForConditionalGeneration) {
        var end = 0, rows = 0
        while end < admitted.count && (end == 0 || rows < limit) {
            rows += admitted[end].job.ids.count + (admitted[end].adapter?.weights.promptLength ?? 0)
            end += 1
        }
        members = Array(admitted[..<end])
        admitted.removeFirst(end)
        pass = EncoderPass(model: model, inputs: members.map { EncoderInput(ids: $0.job.ids, adapter: $0.adapter?.weights) })
        started = Date()
    }

    var ids: [GenerationID] { members.map(\.id) }

    /// Drops the members in `cancelled` (their rows leave the pass) and returns them.
    func remove(_ cancelled: Set<GenerationID>) -> [Admitted] {
        let gone = Set(members.indices.filter { cancelled.contains(members[$0].id) })
        guard !gone.isEmpty else { return [] }
        let removed = gone.sorted().map { members[$0] }
        pass.removeSequences(at: gone)
        members = members.indices.filter { !gone.contains($0) }.map { members[$0] }
        return removed
    }
}

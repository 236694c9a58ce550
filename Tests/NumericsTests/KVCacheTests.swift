import Foundation
import Testing
@testable import Numerics

/// The compact cross-attention caches: packing, and every attention-kernel variant the CPU runs
/// against the plain scalar reference and against F32 attention over the same stored values.
@Suite struct KVCacheTests {
    // (tk, heads, dKV): FLAN-T5-base's head size, a partial vector tail (dKV 20), odd lengths.
    static let shapes: [(tk: Int, heads: Int, dKV: Int)] = [(1, 2, 64), (37, 12, 64), (5, 3, 20), (130, 4, 32)]

    /// Rows of stride ld (wider than heads·dKV, as in the fused k | v product) with a spread of
    /// magnitudes per head, as real keys have.
    static func rows(_ tk: Int, _ heads: Int, _ dKV: Int, ld: Int, seed: UInt64) -> [Float] {
        let x = ReferenceMath.random(tk * ld, seed: seed)
        return x.enumerated().map { i, v in v * Float(1 + (i % ld) / max(dKV, 1) % 5) }
    }

    @Test func packingRoundsAsSpecified() {
        let (tk, heads, dKV) = (9, 3, 32), inner = heads * dKV, ld = 2 * inner
        let x = Self.rows(tk, heads, dKV, ld: ld, seed: 3)
        let bf = x.withUnsafeBufferPointer { KVRows($0.baseAddress!, length: tk, ld: ld, heads: heads, dKV: dKV, format: .bf16) }
        let i8 = x.withUnsafeBufferPointer { KVRows($0.baseAddress!, length: tk, ld: ld, heads: heads, dKV: dKV, format: .int8) }
        let f = x.withUnsafeBufferPointer { KVRows($0.baseAddress!, length: tk, ld: ld, heads: heads, dKV: dKV, format: .fp32) }
        #expect(bf.byteCount == tk * inner * 2)
        #expect(i8.byteCount == tk * inner + tk * heads * 4)
        for r in 0..<tk {
            let original = Array(x[(r * ld)..<(r * ld + inner)])
            #expect(f.row(r) == original)
            // bf16: the same round-to-nearest-even as the weights' bf16.
            #expect(bf.row(r) == original.map { Float(bitPattern: UInt32(floatToBF16($0)) << 16) })
            // int8: within half a step of the (row, head) scale, and the largest value of each head exact.
            let q = i8.row(r)
            for h in 0..<heads {
                let head = original[(h * dKV)..<((h + 1) * dKV)]
                let step = head.map(abs).max()! / 127
                for c in head.indices { #expect(abs(q[c] - original[c]) <= step * 0.5001 + 1e-7) }
                let peak = head.indices.max { abs(head[$0]) < abs(head[$1]) }!
                #expect(abs(q[peak] - original[peak]) <= abs(original[peak]) * 1e-6)
            }
        }
    }

    @Test("each variant's compact-cache attention matches the scalar reference and F32 attention on the stored values",
          arguments: KernelISA.supported)
    func compactAttentionMatchesReference(_ isa: KernelISA) {
        for (i, (tk, heads, dKV)) in Self.shapes.enumerated() {
            let inner = heads * dKV, ld = 2 * inner
            let kv = Self.rows(tk, heads, dKV, ld: ld, seed: UInt64(10 + i))
            let q = ReferenceMath.random(inner, seed: UInt64(40 + i), scale: 0.5)
            let bias = ReferenceMath.random(heads * tk, seed: UInt64(70 + i))
            for format in [KVRows.Format.bf16, .int8] {
                let (keys, values) = kv.withUnsafeBufferPointer { p in
                    (KVRows(p.baseAddress!, length: tk, ld: ld, heads: heads, dKV: dKV, format: format),
                     KVRows(p.baseAddress! + inner, length: tk, ld: ld, heads: heads, dKV: dKV, format: format))
                }
                // F32 attention over the values the cache holds: what the compact kernels must compute.
                let k32 = (0..<tk).flatMap { keys.row($0) }, v32 = (0..<tk).flatMap { values.row($0) }
                var expected = [Float](repeating: 0, count: inner)
                AttentionKernels.singleQuery(q: q, keys: k32, values: v32, tk: tk, heads: heads, dKV: dKV, bias: bias, ctx: &expected)
                for headRange in [0..<heads, (heads / 2)..<heads] {
                    var fast = [Float](repeating: .nan, count: inner), reference = fast
                    q.withUnsafeBufferPointer { qp in bias.withUnsafeBufferPointer { bp in
                        AttentionKernels.singleQuery(q: qp.baseAddress!, keys: keys, values: values, bias: bp.baseAddress!,
                                                     ctx: &fast, headRange: headRange, isa: isa)
                        AttentionKernels.singleQuery(q: qp.baseAddress!, keys: keys, values: values, bias: bp.baseAddress!,
                                                     ctx: &reference, headRange: headRange, reference: true)
                    }}
                    let cols = (headRange.lowerBound * dKV)..<(headRange.upperBound * dKV)
                    let label = "\(isa) \(format) tk \(tk) heads \(heads)x\(dKV) range \(headRange)"
                    #expect(ReferenceMath.maxAbsDifference(Array(fast[cols]), Array(reference[cols])) < 1e-5, "\(label) vs reference")
                    #expect(ReferenceMath.maxAbsDifference(Array(fast[cols]), Array(expected[cols])) < 1e-5, "\(label) vs F32")
                    // Heads outside the range are not written.
                    #expect(fast.enumerated().allSatisfy { cols.contains($0.offset) || $0.element.isNaN }, "\(label) wrote outside")
                }
            }
        }
    }

    @Test func cacheFormatFollowsTheWeights() {
        #expect(KVRows.Format(weights: .fp32) == .fp32)
        #expect(KVRows.Format(weights: .bf16) == .bf16)
        #expect(KVRows.Format(weights: .int8) == .int8)
    }
}

import Foundation
import Testing
@testable import Numerics

/// Every kernel variant this CPU can run (baseline always; AVX2 and AVX-512 where present)
/// against the plain references, so a variant the machine picks at start is one that was tested.
@Suite struct KernelDispatchTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [(1, 37, 64), (3, 128, 96), (16, 64, 32), (5, 9, 224),
                                                            (2, 6, 32), (8, 36, 128), (4, 20, 40)]

    @Test func selectionIsASupportedVariant() {
        let supported = KernelISA.supported
        #expect(supported.first == .baseline)
        #expect(supported.contains(KernelISA.selected))
        let f = CPUFeatures.detected
        #expect(supported.contains(.avx2) == (f.avx2 && f.fma))
        #expect(supported.contains(.avx512) == (f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq))
        // The 8-bit activations need 32-bit sums (VNNI); every other variant gets 7 bits.
        for isa in KernelISA.allCases where isa != .avx512 { #expect(isa.activationBits == 7) }
        #expect(KernelISA.avx512.activationBits == (f.avx512VNNI ? 8 : 7))
    }

    @Test("each variant's streaming products equal the reference product of the stored weights",
          arguments: KernelISA.supported)
    func skinnyProductsMatchReference(_ isa: KernelISA) {
        for (i, (m, n, k)) in Self.shapes.enumerated() {
            let x = ReferenceMath.random(m * k, seed: UInt64(30 + i)), w = ReferenceMath.random(n * k, seed: UInt64(60 + i))
            for format in WeightFormat.allCases {
                let matrix = WeightMatrix(values: w, rows: n, columns: k, format: format)
                let stored = (0..<n).flatMap { matrix.referenceRow($0) }
                let expected = ReferenceMath.matmulTransposed(x, m: m, k: k, stored, n: n)
                var y = [Float](repeating: .nan, count: m * n)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer {
                        if let nf4 = matrix.nf4 {   // the exact kernels (the bf16 one: NF4Tests)
                            nf4.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, isa: isa, sgemm: .oneDNN, bf16: false)
                        } else {
                            matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, isa: isa, int8: .dequantized)
                        }
                    }
                }
                #expect(ReferenceMath.maxAbsDifference(y, expected) < 1e-4, "\(isa) \(matrix.format) \(m)x\(n)x\(k)")
            }
        }
    }

    @Test("each variant's widening equals the scalar unpack", arguments: KernelISA.supported)
    func wideningMatchesReference(_ isa: KernelISA) {
        for format in WeightFormat.allCases {
            let matrix = WeightMatrix(values: ReferenceMath.random(40 * 96, seed: 8), rows: 40, columns: 96, format: format)
            for range in [0..<40, 3..<17] {
                var fast = [Float](repeating: .nan, count: range.count * 96)
                fast.withUnsafeMutableBufferPointer { matrix.dequantize(rows: range, into: $0.baseAddress!, isa: isa) }
                #expect(fast == range.flatMap { matrix.referenceRow($0) }, "\(isa) \(format) rows \(range)")
            }
        }
    }
}

/// The int8 prefill product: activations quantised per row, an s32 product, a rescale.
@Suite struct QuantisedProductTests {
    /// Decode rows on VNNI: the same quantisation and s32 sums as the plain reference, so the
    /// same bits, for every row count up to the streaming limit and for row counts that leave
    /// a partial group of 4 weight rows or a 32-byte tail. Where the CPU lacks VNNI, the default
    /// int8 decode must be the widening kernel instead.
    @Test func vnniDecodeMatchesReference() {
        for (i, (n, k)) in [(37, 96), (64, 768), (9, 2048), (128, 32)].enumerated() {
            let matrix = WeightMatrix(values: ReferenceMath.random(n * k, seed: UInt64(300 + i)), rows: n, columns: k, format: .int8)
            for m in [1, 2, 3, 8, 16] {
                let x = ReferenceMath.random(m * k, seed: UInt64(330 + m), scale: 2)
                var y = [Float](repeating: .nan, count: m * n), expected = y
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, isa: .avx512) }
                    expected.withUnsafeMutableBufferPointer {
                        if WeightMatrix.vnniAvailable {
                            matrix.multiplyQuantized(xp.baseAddress!, m: m, into: $0.baseAddress!, path: .reference, bits: 8)
                        } else {
                            matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, isa: .baseline, int8: .dequantized)
                        }
                    }
                }
                if WeightMatrix.vnniAvailable {
                    #expect(y == expected, "\(m)x\(n)x\(k)")
                } else {
                    #expect(ReferenceMath.maxAbsDifference(y, expected) < 1e-4, "\(m)x\(n)x\(k)")
                }
            }
        }
    }

    static let shapes: [(m: Int, n: Int, k: Int)] = [(17, 40, 64), (33, 136, 96), (64, 50, 256), (20, 7, 32)]

    /// oneDNN's s32 sums are exact, so its result must equal the plain C loop's bit for bit,
    /// with 8-bit activations (VNNI) and with the 7-bit ones used where 16-bit pair sums
    /// would saturate (a u8 x s8 pair reaches 2 * 255 * 127 > 32767; with 7 bits, 2 * 127 * 127
    /// does not).
    @Test("oneDNN equals the reference exactly", arguments: [7, 8])
    func oneDNNMatchesReference(_ bits: Int) {
        for (i, (m, n, k)) in Self.shapes.enumerated() {
            // Skewed activations (like GELU outputs) exercise the zero point.
            let x = ReferenceMath.random(m * k, seed: UInt64(90 + i), scale: 3).map { $0 > 0 ? $0 * 4 : $0 }
            let matrix = WeightMatrix(values: ReferenceMath.random(n * k, seed: UInt64(120 + i)), rows: n, columns: k, format: .int8)
            var fast = [Float](repeating: .nan, count: m * n), slow = fast
            x.withUnsafeBufferPointer { xp in
                fast.withUnsafeMutableBufferPointer { matrix.multiplyQuantized(xp.baseAddress!, m: m, into: $0.baseAddress!, path: .oneDNN, bits: bits) }
                slow.withUnsafeMutableBufferPointer { matrix.multiplyQuantized(xp.baseAddress!, m: m, into: $0.baseAddress!, path: .reference, bits: bits) }
            }
            #expect(fast == slow, "\(m)x\(n)x\(k), \(bits)-bit activations")
        }
    }

    /// The error the activation quantisation adds: each activation moves by at most half a
    /// step (range / (2^bits - 1) / 2), so an output moves by at most that times Σ|w| of its
    /// (dequantised) weight row.
    @Test("the quantised product is within its activation-quantisation bound", arguments: [7, 8])
    func withinActivationBound(_ bits: Int) {
        for (i, (m, n, k)) in Self.shapes.enumerated() {
            let x = ReferenceMath.random(m * k, seed: UInt64(150 + i), scale: 2)
            let matrix = WeightMatrix(values: ReferenceMath.random(n * k, seed: UInt64(180 + i)), rows: n, columns: k, format: .int8)
            let dq = (0..<n).flatMap { matrix.referenceRow($0) }
            let exact = ReferenceMath.matmulTransposed(x, m: m, k: k, dq, n: n)
            var y = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { matrix.multiplyQuantized(xp.baseAddress!, m: m, into: $0.baseAddress!, path: .oneDNN, bits: bits) }
            }
            var worstRatio: Float = 0
            for r in 0..<m {
                let row = x[(r * k)..<((r + 1) * k)]
                let step = (max(row.max()!, 0) - min(row.min()!, 0)) / Float((1 << bits) - 1)
                for j in 0..<n {
                    let l1 = dq[(j * k)..<((j + 1) * k)].reduce(0) { $0 + abs($1) }
                    let bound = step / 2 * l1 * 1.001 + 1e-4
                    let err = abs(y[r * n + j] - exact[r * n + j])
                    #expect(err <= bound, "\(m)x\(n)x\(k) [\(r), \(j)]: error \(err) > bound \(bound)")
                    worstRatio = max(worstRatio, err / bound)
                }
            }
            // Not vacuous: the quantisation does move the result.
            #expect(worstRatio > 0.01)
        }
    }

    /// Each variant's quantisation: codes within [0, 2^bits - 1] using the whole range, every
    /// value back within half a step, and the same bytes as the baseline variant.
    @Test("activation quantisation is within half a step, the same in every variant", arguments: KernelISA.supported)
    func activationQuantisation(_ isa: KernelISA) {
        let x = ReferenceMath.random(4 * 72, seed: 200, scale: 5).map { $0 > 0 ? $0 * 3 : $0 }
        for bits in [7, 8] {
            let (q, s, z) = WeightMatrix.quantizeActivations(x, m: 4, k: 72, bits: bits, isa: isa)
            #expect(Int(q.max()!) == (1 << bits) - 1)
            #expect(q.min()! == 0)
            for r in 0..<4 {
                for c in 0..<72 { #expect(abs(s[r] * Float(Int32(q[r * 72 + c]) - z[r]) - x[r * 72 + c]) <= s[r] / 2 * 1.0001) }
            }
            let base = WeightMatrix.quantizeActivations(x, m: 4, k: 72, bits: bits, isa: .baseline)
            #expect(base.q == q && base.scale == s && base.zero == z)
        }
    }

    /// fp32 weights, and bf16/int8 weights widened to F32 (unquantised activations), through
    /// either sgemm: the reference product of the stored weights.
    @Test("prefill sgemm through oneDNN and OpenBLAS equals the reference", arguments: WeightMatrix.SGEMMBackend.allCases)
    func sgemmPrefillBackends(_ backend: WeightMatrix.SGEMMBackend) {
        for (i, (m, n, k)) in Self.shapes.enumerated() {
            let x = ReferenceMath.random(m * k, seed: UInt64(210 + i)), w = ReferenceMath.random(n * k, seed: UInt64(240 + i))
            for format in WeightFormat.allCases {
                let matrix = WeightMatrix(values: w, rows: n, columns: k, format: format)
                let stored = (0..<n).flatMap { matrix.referenceRow($0) }
                var y = [Float](repeating: .nan, count: m * n)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer {
                        matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, int8: .dequantized, sgemm: backend)
                    }
                }
                #expect(ReferenceMath.maxAbsDifference(y, ReferenceMath.matmulTransposed(x, m: m, k: k, stored, n: n)) < 1e-4,
                        "\(backend) \(matrix.format) \(m)x\(n)x\(k)")
            }
        }
    }
}

import Foundation
import Testing
@testable import Numerics

/// CKernels' GELU, softmax and single-query self-attention in every variant this CPU runs,
/// against libm and the plain double-precision references, over the lengths where a vector body
/// meets its tail (0, 1, 7, 8, 9, 17, ...) and the inputs where the math saturates.
@Suite struct ActivationKernelTests {
    /// Tail lengths for 8 and 16 lanes, and a few long ones.
    static let counts = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 256, 517]

    /// Distance in representable floats (the bit patterns, ordered through zero).
    static func ulps(_ a: Float, _ b: Float) -> Int {
        func ordered(_ f: Float) -> Int { f.sign == .minus ? -Int(f.bitPattern & 0x7FFF_FFFF) : Int(f.bitPattern) }
        return abs(ordered(a) - ordered(b))
    }

    @Test("e^x within 2 ULP of libm's expf, subnormal results included; -inf gives 0, +inf gives +inf",
          arguments: KernelISA.supported)
    func expMatchesLibm(_ isa: KernelISA) {
        var xs = stride(from: -110.0, through: 90.0, by: 0.00731).map { Float($0) }
        xs += [-.infinity, .infinity, 0, -0.0, 1e-30, -1e-30, -87.5, -103.9, 88.72, 88.73, -Float.greatestFiniteMagnitude]
        var e = xs
        e.withUnsafeMutableBufferPointer { Kernels.expInPlace($0.baseAddress!, count: $0.count, isa: isa) }
        let worst = zip(xs, e).map { Self.ulps($1, expf($0)) }.max()!
        #expect(worst <= 2, "\(isa): \(worst) ULP")
        #expect(e[xs.count - 11] == 0 && e[xs.count - 10] == .infinity && e.last == 0)
        #expect(e[xs.count - 5] > 0 && e[xs.count - 5] < Float.leastNormalMagnitude)   // -87.5: a subnormal, not 0
    }

    @Test("tanh within 3 ULP of libm's tanhf, +-1 when saturated, signed zeros kept", arguments: KernelISA.supported)
    func tanhMatchesLibm(_ isa: KernelISA) {
        var xs = stride(from: -12.0, through: 12.0, by: 0.000917).map { Float($0) }
        xs += [0.625, -0.625, 0.6249999, 1e-3, 1e-8, 1e-30, -1e-30, 9.02, -9.02, 10.5, 30, -30, 1e30, -1e30, .infinity, -.infinity, 0, -0.0]
        var t = xs
        t.withUnsafeMutableBufferPointer { Kernels.tanhInPlace($0.baseAddress!, count: $0.count, isa: isa) }
        let worst = zip(xs, t).map { Self.ulps($1, tanhf($0)) }.max()!
        #expect(worst <= 3, "\(isa): \(worst) ULP")
        #expect(Array(t.suffix(11)) == [1, -1, 1, 1, -1, 1, -1, 1, -1, 0, 0] && t.last!.sign == .minus)
    }

    @Test("gelu_new equals the libm reference to 2.5e-7 x max(|x|, 1), for every tail length, writing nothing past count",
          arguments: KernelISA.supported)
    func geluMatchesReference(_ isa: KernelISA) {
        for (i, n) in (Self.counts + [1003]).enumerated() {
            var x = ReferenceMath.random(n, seed: UInt64(500 + i), scale: 6)
            let extremes: [Float] = [-1e30, 1e30, -1e4, 1e4, -20, 20, -9, 9, -3, 3, 0, -0.0, 1e-20]
            for (j, v) in extremes.enumerated() where j < n { x[(j * 7) % n] = v }
            var fast = x + [42, 42, 42], reference = x
            fast.withUnsafeMutableBufferPointer { Kernels.geluTanhInPlace($0.baseAddress!, count: n, isa: isa) }
            reference.withUnsafeMutableBufferPointer { Kernels.geluTanhInPlaceReference($0.baseAddress!, count: n) }
            for j in 0..<n {
                #expect(abs(fast[j] - reference[j]) <= 2.5e-7 * max(abs(x[j]), 1),
                        "\(isa) n \(n): gelu(\(x[j])) = \(fast[j]), reference \(reference[j])")
            }
            #expect(Array(fast.suffix(3)) == [42, 42, 42], "\(isa) n \(n) wrote past the end")
        }
        // Literals from torch's gelu_new (F32): saturated ends give x and 0 exactly.
        var lit: [Float] = [1, -1, 0, 20, -20, 1e4, -1e4]
        lit.withUnsafeMutableBufferPointer { Kernels.geluTanhInPlace($0.baseAddress!, count: $0.count, isa: isa) }
        #expect(abs(lit[0] - 0.841192) < 1e-6 && abs(lit[1] - (-0.158808)) < 1e-6)
        #expect(Array(lit.suffix(5)) == [0, 20, 0, 1e4, 0])
    }

    @Test("softmax rows (with and without a fused bias) equal the libm reference to 3e-7, masked -inf gives exactly 0",
          arguments: KernelISA.supported)
    func softmaxMatchesReference(_ isa: KernelISA) {
        let rows = 3
        for (i, n) in Self.counts.enumerated() {
            var x = ReferenceMath.random(rows * n, seed: UInt64(600 + i), scale: 20)
            if n > 2 { x[1] = -.infinity; x[n + n / 2] = -.infinity; x[2 * n] = 1e4; x[2 * n + 1] = -1e4 }
            let bias = ReferenceMath.random(rows * n, seed: UInt64(650 + i), scale: 5)
            for withBias in [false, true] {
                var fast = x + [42], reference = x
                bias.withUnsafeBufferPointer { b in
                    let bp = withBias ? b.baseAddress : nil
                    fast.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: rows, count: n, bias: bp, isa: isa) }
                    reference.withUnsafeMutableBufferPointer { Kernels.softmaxRowsReference($0.baseAddress!, rows: rows, count: n, bias: bp) }
                }
                let label = "\(isa) n \(n) bias \(withBias)"
                #expect(ReferenceMath.maxAbsDifference(Array(fast.prefix(rows * n)), reference) <= 3e-7, "\(label)")
                #expect(fast.last == 42, "\(label) wrote past the end")
                for r in 0..<rows where n > 0 {
                    let sum = fast[(r * n)..<((r + 1) * n)].reduce(0, +)
                    #expect(abs(sum - 1) < 1e-5, "\(label) row \(r) sums to \(sum)")
                }
                if n > 2 { #expect(fast[1] == 0 && fast[n + n / 2] == 0 && fast[2 * n] == 1 && fast[2 * n + 1] == 0, "\(label)") }
            }
            // One row: the entry point the prefill attention uses.
            var one = Array(x.prefix(n)), rowsOne = one
            one.withUnsafeMutableBufferPointer { Kernels.softmaxVector($0.baseAddress!, count: n, isa: isa) }
            rowsOne.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: 1, count: n, isa: isa) }
            #expect(one == rowsOne)
        }
        var single: [Float] = [-3e4]
        single.withUnsafeMutableBufferPointer { Kernels.softmaxVector($0.baseAddress!, count: 1, isa: isa) }
        #expect(single == [1])
    }

    /// (tk, heads, dKV): one cached position, tails of the dot products (dKV 7, 9), FLAN-T5-base's
    /// 12 heads of 64 over a decode's growing cache and over a 256-token input (cross-attention).
    static let attentionShapes = [(1, 12, 64), (11, 3, 8), (9, 2, 7), (17, 4, 9), (33, 12, 64), (8, 5, 16), (40, 1, 32),
                                  (256, 12, 64)]

    @Test("single-query self-attention equals the libm reference to 2e-6, per head range, with masked positions",
          arguments: KernelISA.supported)
    func singleQueryMatchesReference(_ isa: KernelISA) {
        for (i, (tk, heads, dKV)) in Self.attentionShapes.enumerated() {
            let inner = heads * dKV
            let q = ReferenceMath.random(inner, seed: UInt64(700 + i), scale: 0.5)
            let keys = ReferenceMath.random(tk * inner, seed: UInt64(710 + i))
            let values = ReferenceMath.random(tk * inner, seed: UInt64(720 + i))
            var bias = ReferenceMath.random(heads * tk, seed: UInt64(730 + i), scale: 3)
            if tk > 1 { for h in 0..<heads { bias[h * tk + tk - 1] = -.infinity } }   // the last position masked
            for withBias in [false, true] {
                let b: [Float]? = withBias ? bias : nil
                var whole = [Float](repeating: .nan, count: inner)
                AttentionKernels.singleQuery(q: q, keys: keys, values: values, tk: tk, heads: heads, dKV: dKV, bias: b,
                                             ctx: &whole, isa: isa)
                var reference = [Float](repeating: .nan, count: inner)
                AttentionKernels.singleQueryReference(q: q, keys: keys, values: values, tk: tk, heads: heads, dKV: dKV,
                                                      bias: b, ctx: &reference)
                let label = "\(isa) tk \(tk) heads \(heads)x\(dKV) bias \(withBias)"
                #expect(ReferenceMath.maxAbsDifference(whole, reference) <= 2e-6, "\(label)")
                #expect(!whole.contains { $0.isNaN }, "\(label)")
                // Split over head ranges as the decoder splits a query across cores: the same bits,
                // and nothing written outside a range.
                let mid = heads / 2
                var split = [Float](repeating: .nan, count: inner)
                for range in [0..<mid, mid..<heads] {
                    AttentionKernels.singleQuery(q: q, keys: keys, values: values, tk: tk, heads: heads, dKV: dKV, bias: b,
                                                 ctx: &split, headRange: range, isa: isa)
                    #expect(split[(range.upperBound * dKV)...].allSatisfy { $0.isNaN }, "\(label) range \(range) wrote past it")
                }
                #expect(split == whole, "\(label)")
            }
            if tk == 1 {
                // One position: its value row exactly, whatever the score.
                var ctx = [Float](repeating: .nan, count: inner)
                AttentionKernels.singleQuery(q: q, keys: keys, values: values, tk: 1, heads: heads, dKV: dKV, bias: bias,
                                             ctx: &ctx, isa: isa)
                #expect(ctx == values)
            }
        }
    }

    @Test func selectedVariantIsTheDefault() {
        var x = ReferenceMath.random(100, seed: 800, scale: 4), y = x
        x.withUnsafeMutableBufferPointer { Kernels.geluTanhInPlace($0.baseAddress!, count: 100) }
        y.withUnsafeMutableBufferPointer { Kernels.geluTanhInPlace($0.baseAddress!, count: 100, isa: .selected) }
        #expect(x == y)
    }
}

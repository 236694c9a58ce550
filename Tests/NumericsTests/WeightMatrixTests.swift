import Foundation
import Testing
@testable import Numerics

/// Every storage format and both product paths (streaming kernel for few rows, OpenBLAS for
/// many) against the plain reference product.
@Suite struct WeightMatrixTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [(1, 37, 64), (3, 128, 96), (16, 64, 32), (17, 40, 64), (5, 9, 24),
                                                            (8, 36, 128), (2, 6, 32), (20, 136, 64)]

    @Test("fp32 products equal the reference", arguments: shapes.indices)
    func fp32MatchesReference(_ i: Int) {
        let (m, n, k) = Self.shapes[i]
        let x = ReferenceMath.random(m * k, seed: 1), w = ReferenceMath.random(n * k, seed: 2)
        let expected = ReferenceMath.matmulTransposed(x, m: m, k: k, w, n: n)
        var y = [Float](repeating: .nan, count: m * n)
        let matrix = WeightMatrix(values: w, rows: n, columns: k)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!) } }
        #expect(ReferenceMath.maxAbsDifference(y, expected) < 1e-4)
    }

    @Test("bf16 storage equals the product with bf16-rounded weights", arguments: shapes.indices)
    func bf16MatchesRoundedReference(_ i: Int) {
        let (m, n, k) = Self.shapes[i]
        let x = ReferenceMath.random(m * k, seed: 3), w = ReferenceMath.random(n * k, seed: 4)
        let rounded = w.map { bf16ToFloat(floatToBF16($0)) }
        let expected = ReferenceMath.matmulTransposed(x, m: m, k: k, rounded, n: n)
        let matrix = WeightMatrix(values: w, rows: n, columns: k, format: .bf16)
        #expect(matrix.format == (k % 16 == 0 ? .bf16 : .fp32))
        var y = [Float](repeating: .nan, count: m * n)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!) } }
        let reference = matrix.format == .bf16 ? expected : ReferenceMath.matmulTransposed(x, m: m, k: k, w, n: n)
        #expect(ReferenceMath.maxAbsDifference(y, reference) < 1e-4)
    }

    @Test("vector dequantisation equals the scalar unpack, any row range", arguments: WeightFormat.allCases)
    func dequantizeMatchesReference(_ format: WeightFormat) {
        for (n, k) in [(40, 64), (6, 32), (12, 96)] {
            let matrix = WeightMatrix(values: ReferenceMath.random(n * k, seed: 9), rows: n, columns: k, format: format)
            for range in [0..<n, 1..<(n - 1), 3..<5] {
                var fast = [Float](repeating: .nan, count: range.count * k)
                fast.withUnsafeMutableBufferPointer { matrix.dequantize(rows: range, into: $0.baseAddress!) }
                #expect(fast == range.flatMap { matrix.referenceRow($0) }, "\(format) \(n)x\(k) rows \(range)")
            }
        }
    }

    @Test("int8 storage is within its quantisation error", arguments: shapes.indices)
    func int8WithinQuantisationError(_ i: Int) {
        let (m, n, k) = Self.shapes[i]
        let x = ReferenceMath.random(m * k, seed: 5), w = ReferenceMath.random(n * k, seed: 6)
        let exact = ReferenceMath.matmulTransposed(x, m: m, k: k, w, n: n)
        let matrix = WeightMatrix(values: w, rows: n, columns: k, format: .int8)
        #expect(matrix.format == (k % 32 == 0 ? .int8 : .fp32))
        // Dequantised weights, then the same product: exact up to float rounding.
        var dq = [Float](repeating: 0, count: n * k)
        dq.withUnsafeMutableBufferPointer { matrix.dequantize(rows: 0..<n, into: $0.baseAddress!) }
        #expect(ReferenceMath.maxAbsDifference(dq, w) <= 1.0 / 127 / 2 + 1e-6)
        let expected = ReferenceMath.matmulTransposed(x, m: m, k: k, dq, n: n)
        var y = [Float](repeating: .nan, count: m * n), widened = y
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!) }
            widened.withUnsafeMutableBufferPointer { matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, int8: .dequantized) }
        }
        #expect(ReferenceMath.maxAbsDifference(widened, expected) < 1e-4)
        if matrix.format == .int8 {
            // The default paths quantise the activations too (prefill; decode on VNNI);
            // QuantisedProductTests holds their exact bound.
            #expect(ReferenceMath.maxAbsDifference(y, expected) < Float(k) * (2.0 / 127 / 2) + 1e-3)
        } else {
            #expect(y == widened)
        }
        // And the quantisation error itself is bounded: |x| <= 1, per-weight error <= scale/2.
        #expect(ReferenceMath.maxAbsDifference(y, exact) < Float(k) * (1.0 / 127 / 2) + 1e-3)
    }

    @Test func bytesShrinkWithFormat() {
        let w = ReferenceMath.random(64 * 64, seed: 7)
        #expect(WeightMatrix(values: w, rows: 64, columns: 64).bytes == 64 * 64 * 4)
        #expect(WeightMatrix(values: w, rows: 64, columns: 64, format: .bf16).bytes == 64 * 64 * 2)
        #expect(WeightMatrix(values: w, rows: 64, columns: 64, format: .int8).bytes == 64 * 64 + 64 * 4)
    }
}

@Suite struct KernelTests {
    @Test func singleQueryAttentionMatchesBLASPath() {
        let heads = 3, dKV = 8, inner = heads * dKV, tk = 11
        let q = ReferenceMath.random(inner, seed: 10), keys = ReferenceMath.random(tk * inner, seed: 11)
        let values = ReferenceMath.random(tk * inner, seed: 12), bias = ReferenceMath.random(heads * tk, seed: 13)
        var fast = [Float](repeating: 0, count: inner)
        AttentionKernels.singleQuery(q: q, keys: keys, values: values, tk: tk, heads: heads, dKV: dKV, bias: bias, ctx: &fast)
        var expected = [Float](repeating: 0, count: inner)
        for h in 0..<heads {
            var s = (0..<tk).map { j in (0..<dKV).reduce(0.0) { $0 + Double(q[h * dKV + $1]) * Double(keys[j * inner + h * dKV + $1]) } + Double(bias[h * tk + j]) }
            let m = s.max()!
            s = s.map { exp($0 - m) }
            let z = s.reduce(0, +)
            for c in 0..<dKV { expected[h * dKV + c] = Float((0..<tk).reduce(0.0) { $0 + s[$1] / z * Double(values[$1 * inner + h * dKV + c]) }) }
        }
        #expect(ReferenceMath.maxAbsDifference(fast, expected) < 1e-5)
        // Split across head ranges (as the decoder splits one query across cores): the same bits.
        var split = [Float](repeating: .nan, count: inner)
        for range in [0..<1, 1..<3] {
            AttentionKernels.singleQuery(q: q, keys: keys, values: values, tk: tk, heads: heads, dKV: dKV, bias: bias,
                                         ctx: &split, headRange: range)
        }
        #expect(split == fast)
    }

    @Test func rmsNormMatchesFormula() {
        let x: [Float] = [1, -2, 3, -4], w: [Float] = [1, 0.5, 2, 1]
        var y = [Float](repeating: 0, count: 4)
        Kernels.rmsNorm(x, rows: 1, dim: 4, weight: w, eps: 1e-6, into: &y)
        let inv = 1 / Float((30.0 / 4 + 1e-6).squareRoot())
        #expect(ReferenceMath.maxAbsDifference(y, [1 * inv, -1 * inv, 6 * inv, -4 * inv]) < 1e-6)
    }

    @Test func logSoftmaxSumsToOne() {
        let x: [Float] = [0.5, 2, -1, 3]
        var out = [Float](repeating: 0, count: 4)
        Kernels.logSoftmax(x, count: 4, into: &out)
        #expect(abs(out.map { exp($0) }.reduce(0, +) - 1) < 1e-6)
    }

    @Test func bf16RoundsToNearestEven() {
        #expect(floatToBF16(1.0) == 0x3F80)
        #expect(bf16ToFloat(0x3F80) == 1.0)
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even (down to 1.0).
        #expect(floatToBF16(1 + 1.0 / 256) == 0x3F80)
        #expect(floatToBF16(1 + 3.0 / 256) == 0x3F82)
    }
}

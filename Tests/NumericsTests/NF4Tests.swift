import Foundation
import Testing
import SafeTensors
@testable import Numerics

/// NF4 storage against bitsandbytes itself (Tests/Fixtures/nf4/nf4_reference.safetensors, made by
/// scripts/reference/make_nf4_fixtures.py with bitsandbytes 0.50.2's CPU quantize_4bit /
/// dequantize_4bit), and each kernel variant against the plain definition of the stored weights.
@Suite struct NF4Tests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/nf4/nf4_reference.safetensors")

    struct Reference {
        let code: [Float], input: [Float], packed: [UInt8], absmax: [Float], dequantized: [Float]
        let rows: Int, columns: Int
    }

    static func reference() throws -> Reference {
        let st = try SafeTensors(mapping: fixture.path)
        let input = try #require(st.tensors["input"]), packed = try #require(st.tensors["packed"])
        #expect(packed.dtype == .u8)
        return Reference(code: try st.floats("code"), input: try st.floats(input), packed: Array(st.rawBytes(packed)),
                         absmax: try st.floats("absmax"), dequantized: try st.floats("dequantized"),
                         rows: input.shape[0], columns: input.shape[1])
    }

    @Test("the 16 code values are bitsandbytes' NF4 table, bit for bit")
    func codeIsBitsandbytesTable() throws {
        let ref = try Self.reference()
        #expect(ref.code.count == 16)
        #expect(NF4Matrix.code.map(\.bitPattern) == ref.code.map(\.bitPattern))
        #expect(NF4Matrix.code[7] == 0 && NF4Matrix.code.first == -1 && NF4Matrix.code.last == 1)
    }

    /// Same bytes (nibble order included), same absmax bits, same dequantised bits: ties on
    /// midpoints, an all-zero block, absmax from a negative weight, huge and tiny blocks.
    @Test("the quantiser and the dequantisation equal bitsandbytes' quantize_4bit / dequantize_4bit")
    func quantiserMatchesBitsandbytes() throws {
        let ref = try Self.reference()
        #expect(ref.rows * ref.columns == 1024 && ref.packed.count == 512 && ref.absmax.count == 16)
        let nf4 = NF4Matrix(values: ref.input, rows: ref.rows, columns: ref.columns)
        #expect(Self.mismatches(nf4.packed, ref.packed) == [], "packed bytes that differ from bitsandbytes'")
        #expect(Self.mismatches(nf4.absmax.map(\.bitPattern), ref.absmax.map(\.bitPattern)) == [], "absmax blocks")
        let plain = (0..<ref.rows).flatMap { nf4.referenceRow($0) }
        #expect(Self.mismatches(plain.map(\.bitPattern), ref.dequantized.map(\.bitPattern)) == [], "dequantised weights")
        let matrix = WeightMatrix(values: ref.input, rows: ref.rows, columns: ref.columns, format: .nf4)
        #expect(matrix.format == .nf4 && matrix.bytes == 512 + 16 * 4)
        for isa in KernelISA.supported {
            var widened = [Float](repeating: .nan, count: ref.input.count)
            widened.withUnsafeMutableBufferPointer { matrix.dequantize(rows: 0..<ref.rows, into: $0.baseAddress!, isa: isa) }
            #expect(Self.mismatches(widened.map(\.bitPattern), ref.dequantized.map(\.bitPattern)) == [], "\(isa) widening")
        }
    }

    /// Indices where two equally long arrays differ (a short failure message), or [-1] when the
    /// lengths differ.
    static func mismatches<T: Equatable>(_ a: [T], _ b: [T]) -> [Int] {
        a.count == b.count ? a.indices.filter { a[$0] != b[$0] } : [-1]
    }

    /// The round-trip error is at most half the widest gap between neighbouring codes (-1 and
    /// -0.696) times the block's absmax, and the block maximum itself is exact.
    @Test func quantisationErrorIsBounded() {
        let (n, k) = (24, 192)
        let w = ReferenceMath.random(n * k, seed: 41, scale: 0.08)
        let nf4 = NF4Matrix(values: w, rows: n, columns: k)
        let halfGap = (NF4Matrix.code[1] - NF4Matrix.code[0]) / 2
        for r in 0..<n {
            let row = nf4.referenceRow(r)
            for c in 0..<k {
                let absmax = nf4.absmax[(r * k + c) / 64]
                #expect(abs(row[c] - w[r * k + c]) <= halfGap * absmax * 1.000001, "row \(r) column \(c)")
                if abs(w[r * k + c]) == absmax { #expect(row[c] == w[r * k + c]) }
            }
        }
    }

    /// The exact kernels (`bf16: false`): every row count the streaming kernel takes (chunks of
    /// 8 or 4 activation rows, and their remainders), partial worker slices, k of one and of
    /// many blocks; then the prefill path (widened blocks and an sgemm) with both backends.
    @Test("each variant's streaming product equals the product of the stored weights", arguments: KernelISA.supported)
    func streamingProductMatchesReference(_ isa: KernelISA) {
        for (i, (n, k)) in [(37, 64), (130, 192), (9, 768)].enumerated() {
            let w = ReferenceMath.random(n * k, seed: UInt64(70 + i), scale: 0.1)
            let matrix = WeightMatrix(values: w, rows: n, columns: k, format: .nf4)
            let stored = (0..<n).flatMap { matrix.referenceRow($0) }
            for m in Array(1...WeightMatrix.skinnyRowLimit) + [17, 40] {
                let x = ReferenceMath.random(m * k, seed: UInt64(100 + m))
                let expected = ReferenceMath.matmulTransposed(x, m: m, k: k, stored, n: n)
                for backend in m > WeightMatrix.skinnyRowLimit ? WeightMatrix.SGEMMBackend.allCases : [.oneDNN] {
                    var y = [Float](repeating: .nan, count: m * n)
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer {
                            matrix.nf4!.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, isa: isa, sgemm: backend, bf16: false)
                        }
                    }
                    // Float sums of k terms of size <= |x| |w| <= 0.1, in a different order.
                    #expect(ReferenceMath.maxAbsDifference(y, expected) < 2e-5 * Float(k).squareRoot(), "\(isa) \(m)x\(n)x\(k) \(backend)")
                }
            }
        }
    }

    /// bf16 rounding to nearest, ties to even, as torch's .to(bfloat16) does (finite values).
    static func bf16(_ f: Float) -> Float {
        let u = f.bitPattern
        return Float(bitPattern: (u &+ 0x7fff &+ ((u >> 16) & 1)) & 0xffff_0000)
    }

    /// The bf16 decode kernel (QLoRA's compute dtype) against two references, for every row
    /// count it takes and the same shapes as above; the default decode path (WeightMatrix) is
    /// this kernel where the CPU has AVX512_BF16, and the exact one elsewhere.
    /// 1. Its own arithmetic done plainly: sum_c bf16(x) * bf16(code * absmax) in Double. The
    ///    kernel's only freedom is the order of its fp32 sums, each of which rounds by at most
    ///    2^-24 of the running |sum| <= S = sum_c |bf16(x) bf16(w)|: |error| <= k 2^-24 S.
    /// 2. The exact product of the stored weights (fp32 x, fp32 w): bf16 rounding moves each
    ///    factor by at most 2^-8 of itself, so a product by at most (2^-7 + 2^-16) |x w|, plus
    ///    the summation above: |error| <= (2^-7 + 2^-16 + k 2^-23) sum_c |x w|. A wrong nibble,
    ///    block scale or activation order errs by about |y| itself and fails both.
    @Test("the bf16 decode kernel is within its rounding bound of the stored weights' product")
    func bf16DecodeWithinBound() {
        for (i, (n, k)) in [(37, 64), (130, 192), (9, 768)].enumerated() {
            let w = ReferenceMath.random(n * k, seed: UInt64(70 + i), scale: 0.1)
            let matrix = WeightMatrix(values: w, rows: n, columns: k, format: .nf4)
            let stored = (0..<n).flatMap { matrix.referenceRow($0) }
            let storedBF16 = stored.map(Self.bf16)
            for m in 1...WeightMatrix.skinnyRowLimit {
                let x = ReferenceMath.random(m * k, seed: UInt64(100 + m))
                var y = [Float](repeating: .nan, count: m * n), byDefault = y
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer {
                        matrix.nf4!.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, isa: .avx512, sgemm: .oneDNN, bf16: true)
                    }
                    byDefault.withUnsafeMutableBufferPointer { matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!) }
                }
                var worstOwn = 0.0, worstExact = 0.0   // error / bound, worst over the outputs
                for r in 0..<m {
                    for j in 0..<n {
                        var own = 0.0, ownAbs = 0.0, exact = 0.0, exactAbs = 0.0
                        for c in 0..<k {
                            let t = Double(Self.bf16(x[r * k + c])) * Double(storedBF16[j * k + c])
                            own += t; ownAbs += abs(t)
                            let e = Double(x[r * k + c]) * Double(stored[j * k + c])
                            exact += e; exactAbs += abs(e)
                        }
                        let got = Double(y[r * n + j])
                        worstOwn = max(worstOwn, abs(got - own) / (Double(k) * 0x1p-24 * ownAbs))
                        worstExact = max(worstExact, abs(got - exact) / ((0x1p-7 + 0x1p-16 + Double(k) * 0x1p-23) * exactAbs))
                    }
                }
                if NF4Matrix.bf16Available && KernelISA.supported.contains(.avx512) {
                    #expect(worstOwn <= 1, "\(m)x\(n)x\(k): bf16 kernel off its own arithmetic by \(worstOwn) x the bound")
                    #expect(worstExact <= 1, "\(m)x\(n)x\(k): bf16 kernel off the exact product by \(worstExact) x the bound")
                    // Not the exact kernel in disguise: the bf16 rounding shows.
                    #expect(ReferenceMath.maxAbsDifference(y, ReferenceMath.matmulTransposed(x, m: m, k: k, stored, n: n)) > 1e-5)
                } else {
                    // No AVX512_BF16 (or no AVX-512): bf16 asks fall back to the exact kernel.
                    let expected = ReferenceMath.matmulTransposed(x, m: m, k: k, stored, n: n)
                    #expect(ReferenceMath.maxAbsDifference(y, expected) < 2e-5 * Float(k).squareRoot(), "\(m)x\(n)x\(k) fallback")
                }
                let onDefault = KernelISA.selected == .avx512 && NF4Matrix.bf16Available && NF4Matrix.decodeInBF16
                #expect(y == byDefault || !onDefault, "the default decode path is the bf16 kernel here")
            }
        }
    }

    @Test func narrowRowsStayFP32() {
        let matrix = WeightMatrix(values: ReferenceMath.random(4 * 96, seed: 3), rows: 4, columns: 96, format: .nf4)
        #expect(matrix.format == .fp32 && matrix.nf4 == nil)
    }
}

import Foundation
import Testing
@testable import Numerics

/// The register-blocked VNNI decode product (4 weight rows x up to 4 activation rows per block)
/// and its vectorised activation quantiser. Integer sums are exact, so both must give the same
/// bits as the plain references: the quantiser the generic one's bytes, scales and zero points;
/// the product `multiplyQuantized(path: .reference, bits: 8)` (plain C s32 GEMM, then the rescale).
/// On VNNI that reference quantises with the same vectorised quantiser, so the first test (its
/// bytes equal the plain quantiser's) is what ties both products to the generic quantisation.
@Suite struct VNNIKernelTests {
    /// k = 768 and 2048 are the model's widths (whole 64-byte steps); 32, 96 and 224 end in a
    /// 32-byte half step; 64 is a single step.
    static let widths = [32, 64, 96, 224, 768, 2048]

    /// On a CPU without AVX-512 VNNI the kernel is never chosen: then the flags must say why.
    static func available() -> Bool {
        if WeightMatrix.vnniAvailable { return true }
        #expect(!CPUFeatures.detected.avx512VNNI || !KernelISA.supported.contains(.avx512))
        return false
    }

    /// Activation rows like a decoder's: mostly small, some large, a row of zeros, an all-positive row
    /// (GELU outputs, zero point 0) and an all-negative one (zero point 255).
    static func activations(m: Int, k: Int, seed: UInt64) -> [Float] {
        var x = ReferenceMath.random(m * k, seed: seed, scale: 2)
        for r in 0..<m {
            let row = r * k..<(r + 1) * k
            switch r % 5 {
            case 1: for i in row { x[i] = abs(x[i]) * 3 }
            case 2: for i in row { x[i] = -abs(x[i]) }
            case 3 where m > 3: for i in row { x[i] = 0 }
            case 4: for i in row where i % 7 == 0 { x[i] *= 40 }
            default: break
            }
        }
        return x
    }

    /// How many outputs differ in any bit (a count, so a failure does not print whole arrays).
    static func differing(_ a: [Float], _ b: [Float]) -> Int {
        zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count + abs(a.count - b.count)
    }

    @Test("the decode product's quantiser (AVX-512, stored byte order) gives the baseline's bytes, scales and zero points")
    func quantiserMatchesGeneric() {
        guard Self.available() else { return }
        for k in Self.widths {
            for m in 1...16 {
                var x = Self.activations(m: m, k: k, seed: UInt64(1000 + m * 7 + k))
                // Row 0 spans 0...255 exactly (scale 1), its other values halfway between two
                // steps: each rounds to the even one, as rintf does.
                x[0] = 255
                for c in 1..<k { x[c] = Float(c % 255) + 0.5 }
                let fast = WeightMatrix.quantizeActivations(x, m: m, k: k, bits: 8, isa: .avx512, storedOrder: true)
                let plain = WeightMatrix.quantizeActivations(x, m: m, k: k, bits: 8, isa: .baseline, storedOrder: true)
                #expect(fast.q == plain.q, "bytes, \(m)x\(k)")
                #expect(fast.scale == plain.scale, "scales, \(m)x\(k)")
                #expect(fast.zero == plain.zero, "zero points, \(m)x\(k)")
                // Both sides share the template's byte shuffle: check the stored order against the
                // logical order rearranged here (byte 32b + 4t + s holds column 32b + 8s + t).
                let logical = WeightMatrix.quantizeActivations(x, m: m, k: k, bits: 8, isa: .avx512)
                let rearranged = (0..<(m * k)).map { p in
                    let c = p % k, t = (c % 32) / 4, s = c % 4
                    return logical.q[p - c + (c - c % 32) + 8 * s + t]
                }
                #expect(fast.q == rearranged, "stored order, \(m)x\(k)")
                // The zero point is used (not all 0) and the bytes span the range (not all equal).
                if m >= 3 { #expect(Set(fast.zero).count > 1 && fast.q.max() == 255, "\(m)x\(k)") }
            }
        }
    }

    @Test("every row count 1...16 equals the reference bit for bit", arguments: widths)
    func productMatchesReference(_ k: Int) {
        guard Self.available() else { return }
        // 37 rows: 9 whole blocks of 4 and a single row left over.
        let n = 37
        let matrix = WeightMatrix(values: ReferenceMath.random(n * k, seed: UInt64(k)), rows: n, columns: k, format: .int8)
        #expect(matrix.format == .int8)
        for m in 1...16 {
            let x = Self.activations(m: m, k: k, seed: UInt64(2000 + m + k))
            var fast = [Float](repeating: .nan, count: m * n), expected = fast
            x.withUnsafeBufferPointer { xp in
                fast.withUnsafeMutableBufferPointer { matrix.multiplyVNNI(xp.baseAddress!, m: m, into: $0.baseAddress!) }
                expected.withUnsafeMutableBufferPointer {
                    matrix.multiplyQuantized(xp.baseAddress!, m: m, into: $0.baseAddress!, path: .reference, bits: 8)
                }
            }
            #expect(Self.differing(fast, expected) == 0, "\(m)x\(n)x\(k)")
            #expect(!expected.contains { $0.isNaN } && Set(expected).count > m * n / 2, "\(m)x\(n)x\(k): reference filled y")
            // The public entry point picks this kernel for decode rows on the AVX-512 variant.
            var routed = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xp in
                routed.withUnsafeMutableBufferPointer { matrix.multiply(xp.baseAddress!, m: m, into: $0.baseAddress!, isa: .avx512) }
            }
            #expect(Self.differing(routed, expected) == 0, "multiply, \(m)x\(n)x\(k)")
        }
    }

    /// A slice of weight rows as a worker gets it, starting anywhere (odd starts, partial blocks
    /// of 1-3 rows at the end): those columns equal the reference, and no other column is
    /// written (the rows a partial block reads past its end must not be stored).
    @Test("row slices with odd starts and partial blocks write exactly their own columns")
    func rowSlicesWriteOnlyTheirColumns() {
        guard Self.available() else { return }
        let n = 23
        for k in [64, 96, 768] {
            let matrix = WeightMatrix(values: ReferenceMath.random(n * k, seed: UInt64(50 + k)), rows: n, columns: k, format: .int8)
            for m in [1, 2, 3, 4, 5, 7, 8, 9, 12, 16] {
                let x = Self.activations(m: m, k: k, seed: UInt64(3000 + m))
                var expected = [Float](repeating: 0, count: m * n)
                x.withUnsafeBufferPointer { xp in
                    expected.withUnsafeMutableBufferPointer {
                        matrix.multiplyQuantized(xp.baseAddress!, m: m, into: $0.baseAddress!, path: .reference, bits: 8)
                    }
                }
                for slice in [0..<23, 1..<22, 3..<10, 5..<6, 7..<23, 0..<4, 2..<21, 9..<11, 22..<23] {
                    var y = [Float](repeating: .nan, count: m * n)
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { matrix.multiplyVNNI(xp.baseAddress!, m: m, into: $0.baseAddress!, only: slice) }
                    }
                    for r in 0..<m {
                        for j in 0..<n {
                            let got = y[r * n + j]
                            if slice.contains(j) {
                                #expect(got.bitPattern == expected[r * n + j].bitPattern, "\(m)x\(k) rows \(slice): y[\(r), \(j)]")
                            } else {
                                #expect(got.isNaN, "\(m)x\(k) rows \(slice): y[\(r), \(j)] written outside the slice")
                            }
                        }
                    }
                }
            }
        }
    }
}

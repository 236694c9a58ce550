import Testing
@testable import Numerics

/// The two-plane F32 lm_head: lossless, the same products as plain F32, and greedy tokens equal
/// to the argmax of the full product, ties and masks included.
@Suite struct F32PlanesTests {
    /// A matrix with what a checkpoint can hold: signs, a zero, subnormals, huge and tiny rows.
    static func weights(rows: Int, columns: Int, seed: UInt64) -> [Float] {
        var w = ReferenceMath.random(rows * columns, seed: seed, scale: 0.2)
        w[0] = 0
        w[1] = -0
        w[2] = Float.leastNonzeroMagnitude
        w[3] = -Float.leastNormalMagnitude
        w[4] = 1.0000001
        for c in 0..<columns { w[columns + c] *= 1e-30 }   // row 1: tiny
        for c in 0..<columns { w[2 * columns + c] *= 1e20 }   // row 2: huge
        return w
    }

    @Test("the planes join back to every weight's exact bits, by the kernels and by plain Swift",
          arguments: KernelISA.supported)
    func lossless(_ isa: KernelISA) {
        let (n, k) = (9, 37)
        let w = Self.weights(rows: n, columns: k, seed: 1)
        let planes = F32Planes(values: w, rows: n, columns: k)
        var out = [Float](repeating: .nan, count: n * k)
        out.withUnsafeMutableBufferPointer { planes.dequantize(rows: 0..<n, into: $0.baseAddress!, isa: isa) }
        #expect(out.map(\.bitPattern) == w.map(\.bitPattern))
        #expect((0..<n).flatMap { planes.referenceRow($0) }.map(\.bitPattern) == w.map(\.bitPattern))
        #expect(planes.bytes == 4 * n * k)
    }

    @Test("the product equals plain F32's bit for bit, and each row computed alone equals its bits in the whole",
          arguments: KernelISA.supported)
    func productMatchesF32(_ isa: KernelISA) {
        for (n, k) in [(37, 768), (21, 40), (8, 37)] {
            let w = ReferenceMath.random(n * k, seed: UInt64(n * k), scale: 0.1)
            let plain = WeightMatrix(values: w, rows: n, columns: k)
            let planar = WeightMatrix(values: w, rows: n, columns: k, planar: true)
            #expect(planar.planes != nil && plain.planes == nil && planar.bytes == plain.bytes)
            for m in [1, 2, 3, 8, 16] {
                let x = ReferenceMath.random(m * k, seed: UInt64(m), scale: 2)
                var a = [Float](repeating: .nan, count: m * n), b = a, reference = a
                a.withUnsafeMutableBufferPointer { plain.multiply(x, m: m, into: $0.baseAddress!, isa: isa) }
                b.withUnsafeMutableBufferPointer { planar.multiply(x, m: m, into: $0.baseAddress!, isa: isa) }
                let label = "\(isa) \(m)x\(n)x\(k)"
                if F32Layout.fits(k) { #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(label)") }
                let planes = planar.planes!
                reference.withUnsafeMutableBufferPointer { planes.productReference(x, m: m, into: $0.baseAddress!) }
                #expect(ReferenceMath.maxAbsDifference(b, reference) <= 2e-5, "\(label)")
                // One weight row at a time, as greedyTokens re-scores: the same bits.
                for j in [0, 3, n - 1] {
                    var one = [Float](repeating: .nan, count: m * n)
                    one.withUnsafeMutableBufferPointer { planes.product(x, m: m, rows: j..<(j + 1), into: $0.baseAddress!, ldy: n, isa: isa) }
                    for r in 0..<m { #expect(one[r * n + j].bitPattern == b[r * n + j].bitPattern, "\(label) row \(j)") }
                }
                // Many rows go through the widening path and an sgemm: close to the reference.
                if m == 16 {
                    let big = 40
                    let xs = ReferenceMath.random(big * k, seed: 9, scale: 2)
                    var c = [Float](repeating: .nan, count: big * n), d = c
                    c.withUnsafeMutableBufferPointer { plain.multiply(xs, m: big, into: $0.baseAddress!, isa: isa) }
                    d.withUnsafeMutableBufferPointer { planar.multiply(xs, m: big, into: $0.baseAddress!, isa: isa) }
                    #expect(ReferenceMath.maxAbsDifference(c, d) <= 2e-5, "\(label) wide")
                }
            }
        }
    }

    @Test("the screen's sums equal the reference's, and every exact logit lies within 2^-7 of its size",
          arguments: KernelISA.supported)
    func screenBoundsTheProduct(_ isa: KernelISA) {
        let (n, k, m) = (50, 96, 3)
        let w = Self.weights(rows: n, columns: k, seed: 5)
        let planes = F32Planes(values: w, rows: n, columns: k)
        let x = ReferenceMath.random(m * k, seed: 6, scale: 3)
        let (approx, size) = planes.screen(x, m: m, isa: isa)
        let (refApprox, refSize) = planes.screen(x, m: m, reference: true)
        var exact = [Float](repeating: .nan, count: m * n)
        exact.withUnsafeMutableBufferPointer { planes.productReference(x, m: m, into: $0.baseAddress!) }
        for i in 0..<(m * n) {
            let tolerance = 1e-5 * max(1, refSize[i])
            #expect(abs(approx[i] - refApprox[i]) <= tolerance && abs(size[i] - refSize[i]) <= tolerance, "\(isa) \(i)")
            #expect(Double(abs(exact[i] - refApprox[i])) <= 0x1p-7 * Double(refSize[i]) + 1e-30, "\(isa) \(i)")
        }
    }

    /// The full product's greedy choice: masked entries at -inf, then the first largest.
    static func argmax(_ planar: WeightMatrix, _ x: [Float], m: Int, masks: [[Int32]]) -> [Int32] {
        let n = planar.rows
        var y = [Float](repeating: 0, count: m * n)
        y.withUnsafeMutableBufferPointer { planar.multiply(x, m: m, into: $0.baseAddress!) }
        return (0..<m).map { r in
            var row = Array(y[(r * n)..<((r + 1) * n)])
            for t in masks[r] { row[Int(t)] = -.infinity }
            var best = 0
            for i in 1..<n where row[i] > row[best] { best = i }
            return Int32(best)
        }
    }

    @Test("greedy tokens equal the full product's argmax: near ties decided by the lower plane, exact ties by position, masks",
          arguments: KernelISA.supported)
    func greedyTokensEqualArgmax(_ isa: KernelISA) throws {
        let (n, k) = (300, 64)
        var w = ReferenceMath.random(n * k, seed: 11, scale: 0.05)
        // Rows 10 and 20: equal upper planes, lower planes 256 units apart, so only the
        // re-score can order them. Rows 30 and 31: identical, an exact tie.
        for c in 0..<k {
            let upper = UInt32(0x3F00 + c % 5) << 16   // about 0.5
            w[10 * k + c] = Float(bitPattern: upper | 0x1000)
            w[20 * k + c] = Float(bitPattern: upper | 0x1100)
            w[30 * k + c] = 0.9
            w[31 * k + c] = 0.9
        }
        let planar = WeightMatrix(values: w, rows: n, columns: k, planar: true)
        let planes = try #require(planar.planes)
        let ones = [Float](repeating: 1, count: k)
        let cases: [(x: [Float], mask: [Int32])] = [
            (ones.map { $0 * 0.6 }, []),            // rows 30, 31 lead: the tie goes to 30
            (ones.map { $0 * 0.6 }, [30]),          // 30 masked: 31
            (ones.map { $0 * 0.6 }, [30, 31]),      // then 20 beats 10 by its lower plane
            (ones.map { $0 * 0.6 }, [30, 31, 20]),  // then 10
            (ones.map { $0 * -0.6 }, []),           // negated: the most negative rows lose
        ] + (0..<12).map { (ReferenceMath.random(k, seed: UInt64(100 + $0), scale: 2), [Int32($0 % 3)]) }
        for (i, c) in cases.enumerated() {
            let want = Self.argmax(planar, c.x, m: 1, masks: [c.mask])
            let got = planes.greedyTokens(c.x, m: 1, masked: [c.mask], isa: isa)
            #expect(got == want, "\(isa) case \(i)")
        }
        #expect(planes.greedyTokens(ones.map { $0 * 0.6 }, m: 1, masked: [[]], isa: isa) == [30])
        #expect(planes.greedyTokens(ones.map { $0 * 0.6 }, m: 1, masked: [[30, 31]], isa: isa) == [20])
        // Several rows at once, each with its own mask.
        let m = 5
        let xs = ReferenceMath.random(m * k, seed: 77, scale: 1.5)
        let masks: [[Int32]] = [[], [1, 2], [Int32(n - 1)], [], [0]]
        #expect(planes.greedyTokens(xs, m: m, masked: masks, isa: isa) == Self.argmax(planar, xs, m: m, masks: masks))
        // Everything masked: token 0, as the scan over a row of -inf gives.
        #expect(planes.greedyTokens(ones, m: 1, masked: [(0..<Int32(n)).map { $0 }], isa: isa) == [0])
        // A non-finite activation: nil, so the caller takes the full product and its checks.
        var bad = ones
        bad[3] = .nan
        #expect(planes.greedyTokens(bad, m: 1, masked: [[]], isa: isa) == nil)
        bad[3] = .infinity
        #expect(planes.greedyTokens(bad, m: 1, masked: [[]], isa: isa) == nil)
    }

    @Test("on FLAN-T5-base's lm_head shape, greedy tokens equal the argmax over many random activations")
    func greedyTokensOnFullShape() throws {
        let (n, k) = (32128, 768)
        let w = ReferenceMath.random(n * k, seed: 3, scale: 0.05)
        let planar = WeightMatrix(values: w, rows: n, columns: k, planar: true)
        let planes = try #require(planar.planes)
        let m = 8
        let xs = ReferenceMath.random(m * k, seed: 4, scale: 3)
        let masks: [[Int32]] = (0..<m).map { $0 % 2 == 0 ? [] : [1] }
        #expect(planes.greedyTokens(xs, m: m, masked: masks) == Self.argmax(planar, xs, m: m, masks: masks))
    }
}

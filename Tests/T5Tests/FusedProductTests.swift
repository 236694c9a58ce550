import Foundation
import Testing
import Numerics
@testable import T5

/// The fused products (q | k | v, wi_0 | wi_1, cross k | v) against each module's own matrix
/// built from the checkpoint, in every weight format; adapters acting on their own slice; and
/// the RunState buffers reused across calls of different shapes.
@Suite struct FusedProductTests {
    static let dir = FixturePaths.models.appendingPathComponent("tiny-flan")

    /// x (rows, in) through each fused group of a block, against the same modules loaded alone.
    @Test("fused products equal the modules' own products", arguments: WeightFormat.allCases)
    func fusedEqualsSeparate(_ format: WeightFormat) throws {
        // nf4 needs rows of whole 64-weight blocks; the tiny fixture's are 32 wide and would stay
        // fp32, so nf4 runs on NF4DeviationTests' wider random T5.
        let dir = format == .nf4 ? NF4DeviationTests.directory : Self.dir
        let model = try T5ForConditionalGeneration(directory: dir, weightFormat: format)
        let ckpt = try Checkpoint(directory: dir, weightFormat: format)
        let groups = [model.encoder.blocks[1].selfAttention.qkv!, model.decoder.blocks[0].selfAttention.qkv!,
                      model.decoder.blocks[1].crossAttention!.crossKeyValue!, model.encoder.blocks[0].feedForward.wi01!]
        for group in groups {
            #expect(group.parts.count >= 2 && group.weight.format == format)
            for rows in [1, 5, 40] {   // 40 rows: past the streaming kernels, the prefill path
                let x = (0..<(rows * group.inFeatures)).map { Float(sin(Double($0) * 0.37)) }
                var fused = [Float](repeating: .nan, count: rows * group.outFeatures)   // (rows, Σ out)
                x.withUnsafeBufferPointer { xp in fused.withUnsafeMutableBufferPointer {
                    group.forward(xp.baseAddress!, rows: rows, into: $0.baseAddress!, segments: RowSegments())
                }}
                for part in group.parts {
                    let name = model.linearSites[part.site]
                    let alone = WeightMatrix(try ckpt.tensor(name + ".weight", shape: [part.outFeatures, part.inFeatures]), format: format)
                    var y = [Float](repeating: .nan, count: rows * part.outFeatures)   // (rows, out)
                    x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { alone.multiply(xp.baseAddress!, m: rows, into: $0.baseAddress!) } }
                    let slice = (0..<rows).flatMap { r in fused[(r * group.outFeatures + part.rowOffset)..<(r * group.outFeatures + part.rowOffset + part.outFeatures)] }
                    let scale = y.map(abs).max()!
                    if rows <= WeightMatrix.skinnyRowLimit {
                        // Streaming kernels: each output is the same dot product, bit for bit.
                        #expect(slice == y, "\(format) \(name) rows \(rows)")
                    } else {
                        #expect(zip(slice, y).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "\(format) \(name) rows \(rows)")
                    }
                    // DoRA's view of the module: its own rows of the fused matrix.
                    let view = model.linearWeight(part.site)
                    #expect(view.rows == part.outFeatures && view.columns == part.inFeatures)
                    var rowsOut = [Float](repeating: .nan, count: 3 * view.columns)
                    rowsOut.withUnsafeMutableBufferPointer { view.dequantize(rows: 2..<5, into: $0.baseAddress!) }
                    #expect(rowsOut == (2..<5).flatMap { alone.referenceRow($0) }, "\(format) \(name) rows of the view")
                }
            }
        }
    }

    /// One segment with an adapter that puts a LoRA on k, an IA3 output scale on v and an IA3
    /// input scale on wi_1 (which its fused sibling wi_0 does not share), one segment of the
    /// base: each module's slice must be what that module alone computes.
    @Test func adaptersActOnTheirOwnSlice() throws {
        let model = try T5ForConditionalGeneration(directory: Self.dir)
        let ckpt = try Checkpoint(directory: Self.dir, weightFormat: .fp32)
        let attention = model.decoder.blocks[1].selfAttention.qkv!, ff = model.decoder.blocks[1].feedForward.wi01!
        let k = attention.parts[1], v = attention.parts[2], wi0 = ff.parts[0], wi1 = ff.parts[1]
        let d = attention.inFeatures, r = 4
        let a = Tensor(shape: [r, d], storage: (0..<(r * d)).map { Float(cos(Double($0))) * 0.1 })
        let b = Tensor(shape: [k.outFeatures, r], storage: (0..<(k.outFeatures * r)).map { Float(sin(Double($0))) * 0.1 })
        let vScale = (0..<v.outFeatures).map { 0.5 + Float($0 % 7) * 0.25 }
        let wi1Scale = (0..<d).map { 1.5 - Float($0 % 5) * 0.3 }
        var deltas = [LowRankDelta?](repeating: nil, count: model.linearSites.count)
        var ia3 = [IA3Scale?](repeating: nil, count: model.linearSites.count)
        deltas[k.site] = LowRankDelta(a: a, b: b, scale: 2)
        ia3[v.site] = IA3Scale(vector: vScale, scalesInput: false)
        ia3[wi1.site] = IA3Scale(vector: wi1Scale, scalesInput: true)
        let adapter = AdapterWeights(deltas: deltas, promptEmbeddings: nil, ia3: ia3)
        let rows = 3, adapted = 2   // rows 0..<2 carry the adapter, row 2 the base
        var segments = RowSegments()
        segments.append(rows: adapted, adapter: adapter)
        segments.append(rows: rows - adapted, adapter: nil)
        let x = (0..<(rows * d)).map { Float(sin(Double($0) * 0.11)) }

        func alone(_ part: Linear, _ input: [Float]) throws -> [Float] {   // (rows, out)
            let w = WeightMatrix(try ckpt.tensor(model.linearSites[part.site] + ".weight", shape: [part.outFeatures, d]))
            var y = [Float](repeating: 0, count: rows * part.outFeatures)
            input.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { w.multiply(xp.baseAddress!, m: rows, into: $0.baseAddress!) } }
            return y
        }
        func slice(_ fused: [Float], _ group: FusedLinear, _ part: Linear) -> [Float] {
            (0..<rows).flatMap { r in fused[(r * group.outFeatures + part.rowOffset)..<(r * group.outFeatures + part.rowOffset + part.outFeatures)] }
        }
        var qkv = [Float](repeating: .nan, count: rows * attention.outFeatures)
        var gate = [Float](repeating: .nan, count: rows * ff.outFeatures)
        x.withUnsafeBufferPointer { xp in
            qkv.withUnsafeMutableBufferPointer { attention.forward(xp.baseAddress!, rows: rows, into: $0.baseAddress!, segments: segments) }
            gate.withUnsafeMutableBufferPointer { ff.forward(xp.baseAddress!, rows: rows, into: $0.baseAddress!, segments: segments) }
        }
        // k: base + 2 · (x Aᵀ) Bᵀ on the adapted rows.
        var expectedK = try alone(k, x)
        for row in 0..<adapted {
            for j in 0..<k.outFeatures {
                var s: Float = 0
                for t in 0..<r {
                    var xa: Float = 0
                    for c in 0..<d { xa += x[row * d + c] * a.storage[t * d + c] }
                    s += xa * b.storage[j * r + t]
                }
                expectedK[row * k.outFeatures + j] += 2 * s
            }
        }
        // v: scaled outputs on the adapted rows; wi_1: scaled inputs on the adapted rows; wi_0 untouched.
        var expectedV = try alone(v, x)
        for row in 0..<adapted { for j in 0..<v.outFeatures { expectedV[row * v.outFeatures + j] *= vScale[j] } }
        let scaledX = x.enumerated().map { i, value in i / d < adapted ? value * wi1Scale[i % d] : value }
        let close = { (got: [Float], want: [Float]) in zip(got, want).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) } }
        #expect(close(slice(qkv, attention, k), expectedK))
        #expect(slice(qkv, attention, v) == expectedV)
        #expect(slice(qkv, attention, attention.parts[0]) == (try alone(attention.parts[0], x)))
        #expect(slice(gate, ff, wi0) == (try alone(wi0, x)))
        #expect(slice(gate, ff, wi1) == (try alone(wi1, scaledX)))
    }

    /// Decode steps of different batch shapes through the same RunState give what a fresh model
    /// gives: nothing a step reads is left over from another shape.
    @Test func runStateReuseAcrossShapes() throws {
        let model = try T5ForConditionalGeneration(directory: Self.dir)
        let fresh = try T5ForConditionalGeneration(directory: Self.dir)
        let inputs = [EncoderInput(ids: [37, 423, 5, 1]), EncoderInput(ids: [8, 9, 10, 11, 12, 1])]
        var expected = fresh.encode(Array(inputs.prefix(1))).map { fresh.makeDecoderState($0) }
        let want = fresh.decodeStep(&expected, tokens: [0])
        // A larger prefill and step first, then the one-row step again.
        var big = model.encode(inputs + inputs).map { model.makeDecoderState($0) }
        _ = model.decodeStep(&big, tokens: [0, 0, 0, 0])
        var small = model.encode(Array(inputs.prefix(1))).map { model.makeDecoderState($0) }
        let got = model.decodeStep(&small, tokens: [0])
        #expect(got == want)
        #expect(model.decoder.runStates.idleCapacities == [4])
        #expect(model.encoder.runStates.idleCapacities == [20])
    }
}

import Foundation
import Numerics

/// `bench-kernels --decode-step`: the weight products of one whole FLAN-T5-base decoder step,
/// per weight format, timed interleaved in one process (A, B, A, B, ...), so formats are compared
/// under the same machine load, which on this shared 2-core machine drifts too much between
/// processes. Each of the 12 layers has its own matrices (self-attention q, k, v, o; cross
/// q, o, whose keys and values are cached; wi_0, wi_1, wo), then lm_head: 124M weights, more
/// than the caches hold, so every step streams them from memory as a real step does. Attention
/// over the caches, norms and the rest of a step are not included.
enum DecodeStepBench {
    static func run(rows: [Int], seconds: Double, formats: [WeightFormat]) {
        let d = 768, ff = 2048, vocab = 32128, layers = 12
        let square: (n: Int, k: Int) = (d, d), up: (n: Int, k: Int) = (ff, d), down: (n: Int, k: Int) = (d, ff)
        let layerShapes: [(n: Int, k: Int)] = [square, square, square, square, square, square, up, up, down]
        var shapes: [(n: Int, k: Int)] = []
        for _ in 0..<layers { shapes += layerShapes }
        shapes.append((n: vocab, k: d))
        let total = shapes.reduce(0) { $0 + $1.n * $1.k }
        print("\nDecode-step weights (\(layers) decoder layers + lm_head, \(total / 1_000_000)M weights, distinct matrices), medians of interleaved runs:")
        print("format  rows   time/step  weight MiB   GB/s   vs first")
        let sets = formats.map { format in
            shapes.enumerated().map { i, s in
                var values = [Float](repeating: 0, count: s.n * s.k)
                for j in values.indices {
                    let phase = Double(j &* 31 &+ i &* 7) * 0.37
                    values[j] = Float(sin(phase)) * 0.05
                }
                return WeightMatrix(values: values, rows: s.n, columns: s.k, format: format)
            }
        }
        for m in rows where m <= WeightMatrix.skinnyRowLimit {
            let x768 = BenchKernelsCommand.activations(m * d), x2048 = BenchKernelsCommand.activations(m * ff)
            var y = [Float](repeating: 0, count: m * vocab)
            let bodies: [() -> Void] = sets.map { set in {
                y.withUnsafeMutableBufferPointer { yp in
                    for w in set { w.multiply(w.columns == d ? x768 : x2048, m: m, into: yp.baseAddress!) }
                }
            } }
            let times = BenchKernelsCommand.interleaved(seconds, bodies)
            for i in sets.indices {
                let t = times[i]
                let bytes = Double(sets[i].reduce(0) { $0 + $1.bytes })
                let figures = String(format: "%5d  %8.2f ms  %10.1f  %5.1f   %.2fx", m, t * 1e3, bytes / 1048576, bytes / t / 1e9, t / times[0])
                print(BenchKernelsCommand.pad(formats[i].rawValue, 6), figures)
            }
        }
        if formats.contains(.fp32) { greedyHead(rows: rows.filter { $0 <= WeightMatrix.skinnyRowLimit }, seconds: seconds) }
    }

    /// The fp32 lm_head's two ways through a greedy step: every logit (F32 planes joined), or
    /// the greedy tokens from the upper plane and the rows it cannot rule out.
    static func greedyHead(rows: [Int], seconds: Double) {
        let d = 768, vocab = 32128
        var seed: UInt64 = 42
        let values = (0..<(vocab * d)).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: seed >> 11) % 2_000_001 - 1_000_000) * 5e-8
        }
        let head = WeightMatrix(values: values, rows: vocab, columns: d, planar: true)
        print("\nfp32 lm_head (32128 x 768, uniform random weights), a greedy step:")
        print("rows   every logit   greedy tokens   ratio")
        for m in rows {
            let x = BenchKernelsCommand.activations(m * d)
            var y = [Float](repeating: 0, count: m * vocab)
            let masks = [[Int32]](repeating: [1], count: m)
            let times = BenchKernelsCommand.interleaved(seconds, [
                { y.withUnsafeMutableBufferPointer { head.multiply(x, m: m, into: $0.baseAddress!) } },
                { _ = head.planes!.greedyTokens(x, m: m, masked: masks) },
            ])
            print(String(format: "%4d  %9.0f µs  %11.0f µs   %.2f", m, times[0] * 1e6, times[1] * 1e6, times[1] / times[0]))
        }
    }
}

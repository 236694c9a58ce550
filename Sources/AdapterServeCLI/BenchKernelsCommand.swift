import ArgumentParser
import Foundation
import Numerics

/// `bench-kernels`: the weight products alone, so kernel work can be measured against the
/// machine's limits (memory bandwidth for the few rows of a decoder step, FLOPS for the many
/// rows of a prefill): every kernel variant this CPU runs, and each prefill backend, timed
/// interleaved (round-robin) so a drift in the shared machine's speed hits all alike.
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels", abstract: "Time the weight-product kernels on FLAN-T5-base shapes.")

    @Option(help: "Comma-separated activation row counts for the decode-step products.") var rows = "1,2,4,8,16"
    @Option(help: "Comma-separated activation row counts for the prefill products.") var prefillRows = "256"
    @Option(help: "Seconds per group of interleaved measurements.") var seconds = 1.0
    @Flag(help: "Only check the int8 prefill product against its plain reference under the selected variant (ADAPTER_SERVE_ISA), and show what 8-bit activations would do there; exits non-zero on a mismatch.")
    var verify = false
    @Flag(help: "Only time the weight products of a whole decoder step (12 layers + lm_head) per format, interleaved: int8, nf4, bf16, fp32.")
    var decodeStep = false

    func run() throws {
        if verify { return try Self.verifyInt8() }
        if decodeStep {
            print(MachineProfile.measure().report)
            return DecodeStepBench.run(rows: rows.split(separator: ",").compactMap { Int($0) }, seconds: seconds,
                                       formats: [.int8, .nf4, .bf16, .fp32])
        }
        print(MachineProfile.measure().report)
        let shapes = [(name: "wi 2048x768", n: 2048, k: 768), (name: "wo 768x2048", n: 768, k: 2048),
                      (name: "q 768x768", n: 768, k: 768), (name: "lm_head 32128x768", n: 32128, k: 768)]
        let idle = Self.time(0.2) { WorkerPool.parallelFor(2, grain: 1, minimumPerWorker: 1) { _ in } }
        print(String(format: "WorkerPool.parallelFor round trip (%d workers): %.1f µs", WorkerPool.workers, idle * 1e6))
        let isas = KernelISA.supported
        print("\nDecode-step products (streaming kernels), medians of interleaved runs:")
        print("shape                 rows  format  variant    time/call  weight GB/s   GFLOPS")
        for shape in shapes where shape.n != 768 || shape.k != 768 {
            let values = Self.values(shape.n * shape.k)
            let matrices = WeightFormat.allCases.map { WeightMatrix(values: values, rows: shape.n, columns: shape.k, format: $0) }
            for m in rows.split(separator: ",").compactMap({ Int($0) }) where m <= WeightMatrix.skinnyRowLimit {
                let x = Self.activations(m * shape.k)
                var y = [Float](repeating: 0, count: m * shape.n)
                let flops = 2.0 * Double(m * shape.n * shape.k)
                for matrix in matrices {
                    let times = Self.interleaved(seconds, isas.map { isa in {
                        y.withUnsafeMutableBufferPointer { matrix.multiply(x, m: m, into: $0.baseAddress!, isa: isa) }
                    } })
                    for (isa, t) in zip(isas, times) {
                        // int8 on avx512 with VNNI quantises the activations (WeightMatrix.int8DecodeOnVNNI).
                        let vnni = matrix.format == .int8 && isa == .avx512 && WeightMatrix.vnniAvailable && WeightMatrix.int8DecodeOnVNNI
                        print(Self.pad(shape.name, 20), String(format: "%5d  ", m), Self.pad(matrix.format.rawValue, 6),
                              Self.pad(vnni ? "vnni" : isa.description, 9), String(format: "%9.1f µs %11.1f %9.1f", t * 1e6,
                                                                   Double(matrix.bytes) / t / 1e9, flops / t / 1e9))
                    }
                }
            }
        }
        Self.fusedAndAttention(rows: rows.split(separator: ",").compactMap { Int($0) }.filter { $0 <= WeightMatrix.skinnyRowLimit },
                               seconds: seconds)
        print("\nPrefill products (all workers), medians of interleaved runs:")
        print("shape                 rows  path                                  time/call   GFLOPS or GOPS")
        for shape in shapes where shape.n != 32128 {
            let values = Self.values(shape.n * shape.k)
            let f32 = WeightMatrix(values: values, rows: shape.n, columns: shape.k)
            let i8 = WeightMatrix(values: values, rows: shape.n, columns: shape.k, format: .int8)
            let q4 = WeightMatrix(values: values, rows: shape.n, columns: shape.k, format: .nf4)
            for m in prefillRows.split(separator: ",").compactMap({ Int($0) }) where m > WeightMatrix.skinnyRowLimit {
                let x = Self.activations(m * shape.k)
                var y = [Float](repeating: 0, count: m * shape.n)
                let a = [UInt8]((0..<(m * shape.k)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
                let b = [Int8]((0..<(shape.n * shape.k)).map { Int8(truncatingIfNeeded: $0 &* 13) })
                var c = [Int32](repeating: 0, count: m * shape.n)
                let paths: [(String, () -> Void)] = [
                    ("fp32 OpenBLAS sgemm", { y.withUnsafeMutableBufferPointer { f32.multiply(x, m: m, into: $0.baseAddress!, sgemm: .openBLAS) } }),
                    ("fp32 oneDNN sgemm", { y.withUnsafeMutableBufferPointer { f32.multiply(x, m: m, into: $0.baseAddress!, sgemm: .oneDNN) } }),
                    ("int8 widened + OpenBLAS sgemm", { y.withUnsafeMutableBufferPointer { i8.multiply(x, m: m, into: $0.baseAddress!, int8: .dequantized, sgemm: .openBLAS) } }),
                    ("int8 quantise + oneDNN u8s8s32 + rescale", { y.withUnsafeMutableBufferPointer { i8.multiply(x, m: m, into: $0.baseAddress!, int8: .oneDNN) } }),
                    ("nf4 widened + oneDNN sgemm", { y.withUnsafeMutableBufferPointer { q4.multiply(x, m: m, into: $0.baseAddress!, sgemm: .oneDNN) } }),
                    ("oneDNN u8s8s32 GEMM alone", { OneDNN.gemmU8S8S32(m: m, n: shape.n, k: shape.k, a: a, b: b, c: &c) }),
                ]
                let times = Self.interleaved(seconds, paths.map(\.1))
                let ops = 2.0 * Double(m * shape.n * shape.k)
                for ((name, _), t) in zip(paths, times) {
                    print(Self.pad(shape.name, 20), String(format: "%5d  ", m), Self.pad(name, 38),
                          String(format: "%9.1f µs %9.1f", t * 1e6, ops / t / 1e9))
                }
            }
        }
    }

    /// The decode step's fused products against the separate ones they replace (self-attention
    /// q, k, v: 3 x 768x768 or one 2304x768; gated FF wi_0, wi_1: 2 x 2048x768 or one 4096x768),
    /// and one cross-attention query over a 256-position cache in each cache format (12 heads of
    /// 64), each timed interleaved.
    static func fusedAndAttention(rows: [Int], seconds: Double) {
        print("\nFused decode products (selected variant), medians of interleaved runs:")
        print("products                         rows  format   separate      fused   ratio")
        for (name, parts, n) in [("q,k,v 3x768x768", 3, 768), ("wi_0,wi_1 2x2048x768", 2, 2048)] {
            let k = 768
            let values = Self.values(parts * n * k)
            for format in WeightFormat.allCases {
                let fused = WeightMatrix(values: values, rows: parts * n, columns: k, format: format)
                let separate = (0..<parts).map { p in
                    WeightMatrix(values: Array(values[(p * n * k)..<((p + 1) * n * k)]), rows: n, columns: k, format: format)
                }
                for m in rows {
                    let x = Self.activations(m * k)
                    var y = [Float](repeating: 0, count: m * parts * n)
                    let times = Self.interleaved(seconds, [
                        { y.withUnsafeMutableBufferPointer { yp in for (p, w) in separate.enumerated() { w.multiply(x, m: m, into: yp.baseAddress! + p * m * n) } } },
                        { y.withUnsafeMutableBufferPointer { fused.multiply(x, m: m, into: $0.baseAddress!) } },
                    ])
                    print(Self.pad(name, 31), String(format: "%5d  ", m), Self.pad(format.rawValue, 6),
                          String(format: "%8.1f µs %8.1f µs %6.2f", times[0] * 1e6, times[1] * 1e6, times[0] / times[1]))
                }
            }
        }
        print("\nCross-attention, one query over 256 cached positions (12 heads x 64), per cache format:")
        print("cache   variant    time/call   cache MB/s read")
        let (tk, heads, dKV) = (256, 12, 64), inner = heads * dKV
        let kv = (0..<(tk * 2 * inner)).map { Float(sin(Double($0) * 0.013)) }
        let q = Self.activations(inner)
        var ctx = [Float](repeating: 0, count: inner)
        for format in KVRows.Format.allCases {
            let (keys, values) = kv.withUnsafeBufferPointer { p in
                (KVRows(p.baseAddress!, length: tk, ld: 2 * inner, heads: heads, dKV: dKV, format: format),
                 KVRows(p.baseAddress! + inner, length: tk, ld: 2 * inner, heads: heads, dKV: dKV, format: format))
            }
            let isas = format == .fp32 ? [KernelISA.selected] : KernelISA.supported
            let times = Self.interleaved(seconds / 2, isas.map { isa in {
                ctx.withUnsafeMutableBufferPointer { AttentionKernels.singleQuery(q: q, keys: keys, values: values, bias: nil, ctx: $0.baseAddress!, isa: isa) }
            } })
            for (isa, t) in zip(isas, times) {
                print(Self.pad(format.rawValue, 6), Self.pad(format == .fp32 ? "swift" : isa.description, 9),
                      String(format: "%9.2f µs %10.0f", t * 1e6, Double(keys.byteCount + values.byteCount) / t / 1e6))
            }
        }
        print("\nThe same from memory, as a decoder step meets it: 48 caches in turn (more than the L3 holds),")
        print("the heads split over the workers:")
        print("cache   variant    time/call   cache MB/s read")
        for format in KVRows.Format.allCases {
            let caches = (0..<48).map { s in
                let shifted = kv.map { $0 + Float(s) * 1e-3 }
                return shifted.withUnsafeBufferPointer { p in
                    (KVRows(p.baseAddress!, length: tk, ld: 2 * inner, heads: heads, dKV: dKV, format: format),
                     KVRows(p.baseAddress! + inner, length: tk, ld: 2 * inner, heads: heads, dKV: dKV, format: format))
                }
            }
            let groups = min(heads, WorkerPool.workers), perGroup = (heads + groups - 1) / groups
            let time = Self.interleaved(seconds / 2, [{
                ctx.withUnsafeMutableBufferPointer { c in
                    for (keys, values) in caches {
                        WorkerPool.parallelFor(groups, grain: 1, minimumPerWorker: 1) { units in
                            for g in units {
                                AttentionKernels.singleQuery(q: q, keys: keys, values: values, bias: nil, ctx: c.baseAddress!,
                                                             headRange: (g * perGroup)..<min(heads, (g + 1) * perGroup))
                            }
                        }
                    }
                }
            }])[0] / Double(caches.count)
            let bytes = Double(caches[0].0.byteCount + caches[0].1.byteCount)
            print(Self.pad(format.rawValue, 6), Self.pad("selected", 9), String(format: "%9.2f µs %10.0f", time * 1e6, bytes / time / 1e6))
        }
    }

    /// oneDNN's exact s32 sums against the plain loop on prefill shapes, with the activation
    /// bits the selected variant uses and, for contrast, with 8 bits (which saturate in oneDNN's
    /// non-VNNI kernels).
    static func verifyInt8() throws {
        print(CPUFeatures.summary)
        let bits = KernelISA.selected.activationBits
        var failed = false
        for (m, n, k) in [(64, 256, 768), (40, 192, 2048)] {
            // Activations near the top of their range and positive weights near their row
            // maximum: adjacent u8 x s8 pairs sum past 32767, where 16-bit sums saturate.
            let x = (0..<(m * k)).map { 3.5 + Float(sin(Double($0) * 0.731)) * 0.5 }
            let w = (0..<(n * k)).map { 0.7 + Float(abs(cos(Double($0) * 0.377))) * 0.3 }
            let matrix = WeightMatrix(values: w, rows: n, columns: k, format: .int8)
            for b in Set([bits, 8]).sorted() {
                var fast = [Float](repeating: 0, count: m * n), slow = fast
                fast.withUnsafeMutableBufferPointer { matrix.multiplyQuantized(x, m: m, into: $0.baseAddress!, path: .oneDNN, bits: b) }
                slow.withUnsafeMutableBufferPointer { matrix.multiplyQuantized(x, m: m, into: $0.baseAddress!, path: .reference, bits: b) }
                let mismatches = zip(fast, slow).filter { $0 != $1 }.count
                print("\(m)x\(n)x\(k), \(b)-bit activations: \(mismatches) of \(m * n) outputs differ from the reference"
                      + (b == bits ? " (the bits this variant uses)" : " (not used here)"))
                if b == bits && mismatches > 0 { failed = true }
            }
        }
        if failed { throw CLIError(description: "oneDNN's int8 product differs from the reference") }
    }

    static func values(_ count: Int) -> [Float] { (0..<count).map { Float(sin(Double($0) * 0.37)) * 0.05 } }
    static func activations(_ count: Int) -> [Float] { (0..<count).map { Float(cos(Double($0) * 0.11)) } }
    static func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: n, withPad: " ", startingAt: 0) }

    /// Median seconds per call over about `budget` seconds.
    static func time(_ budget: Double, _ body: () -> Void) -> Double {
        withoutActuallyEscaping(body) { interleaved(budget, [$0])[0] }
    }

    /// Median seconds per call of each body, called in turn (A, B, C, A, B, C, ...) for about
    /// `budget` seconds after one warm-up call each.
    static func interleaved(_ budget: Double, _ bodies: [() -> Void]) -> [Double] {
        for body in bodies { body() }
        var samples = [[Double]](repeating: [], count: bodies.count)
        let end = Date().addingTimeInterval(budget)
        repeat {
            for (i, body) in bodies.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                samples[i].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        } while Date() < end || samples[0].count < 3
        return samples.map { $0.sorted()[$0.count / 2] }
    }
}

/// What a benchmark's numbers are read against: the CPU's vector features and the kernel
/// variant in use, the read bandwidth a decode step can reach, and the GEMM peaks of prefill.
struct MachineProfile {
    let readGBps: Double
    let sgemmGFLOPS: Double
    let int8GOPS: Double

    /// About a second: four 64 MiB fp32 matrices streamed in turn by the selected kernel (one
    /// activation row, all workers), and oneDNN's fp32 and u8s8s32 GEMMs on 256 x 2048 x 768.
    /// Four, not one: a single 64 MiB matrix is partly served by a 32 MiB L3 and read 40% above
    /// what a decode step's 472 MiB of weights get at the same moment.
    static func measure() -> MachineProfile {
        let n = 8192, k = 2048
        let big = (0..<4).map { _ in WeightMatrix(values: [Float](repeating: 0.5, count: n * k), rows: n, columns: k) }
        let x = [Float](repeating: 1, count: k)
        var y = [Float](repeating: 0, count: n)
        let stream = BenchKernelsCommand.time(0.4) {
            y.withUnsafeMutableBufferPointer { yp in for w in big { w.multiply(x, m: 1, into: yp.baseAddress!) } }
        } / Double(big.count)
        let m = 256, gn = 2048, gk = 768
        let w = WeightMatrix(values: BenchKernelsCommand.values(gn * gk), rows: gn, columns: gk)
        let xs = BenchKernelsCommand.activations(m * gk)
        var out = [Float](repeating: 0, count: m * gn)
        let sgemm = BenchKernelsCommand.time(0.3) { out.withUnsafeMutableBufferPointer { w.multiply(xs, m: m, into: $0.baseAddress!, sgemm: .oneDNN) } }
        let a = [UInt8](repeating: 3, count: m * gk), b = [Int8](repeating: -2, count: gn * gk)
        var c = [Int32](repeating: 0, count: m * gn)
        let gemm = BenchKernelsCommand.time(0.3) { OneDNN.gemmU8S8S32(m: m, n: gn, k: gk, a: a, b: b, c: &c) }
        let ops = 2.0 * Double(m * gn * gk)
        return MachineProfile(readGBps: Double(big[0].bytes) / stream / 1e9, sgemmGFLOPS: ops / sgemm / 1e9, int8GOPS: ops / gemm / 1e9)
    }

    var report: String {
        CPUFeatures.summary + "\n" + String(format: "Measured: read %.1f GB/s (fp32 streaming, %d workers); oneDNN sgemm %.0f GFLOPS, u8s8s32 %.0f GOPS (256x2048x768)",
                                            readGBps, WorkerPool.workers, sgemmGFLOPS, int8GOPS)
    }
}

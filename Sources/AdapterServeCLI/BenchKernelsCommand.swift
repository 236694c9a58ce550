import ArgumentParser
import Foundation
import Numerics

/// `bench-kernels`: the skinny products of a decoder step, timed alone, so kernel work can be
/// measured against the machine's limits (memory bandwidth for few rows, FLOPS for many) and
/// against OpenBLAS on the same shapes.
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels", abstract: "Time the weight-product kernels on FLAN-T5-base shapes.")

    @Option(help: "Comma-separated activation row counts.") var rows = "1,2,4,8,16"
    @Option(help: "Seconds per measurement.") var seconds = 0.5

    func run() throws {
        let shapes = [(name: "wi 2048x768", n: 2048, k: 768), (name: "wo 768x2048", n: 768, k: 2048),
                      (name: "lm_head 32128x768", n: 32128, k: 768)]
        let ms = rows.split(separator: ",").compactMap { Int($0) }
        let idle = Self.time(seconds) { WorkerPool.parallelFor(2, grain: 1, minimumPerWorker: 1) { _ in } }
        print(String(format: "WorkerPool.parallelFor round trip (%d workers): %.1f µs", WorkerPool.workers, idle * 1e6))
        print("shape                 rows  format   time/call   weight GB/s   GFLOPS   (OpenBLAS fp32 GFLOPS)")
        for shape in shapes {
            let values = (0..<(shape.n * shape.k)).map { Float(sin(Double($0) * 0.37)) * 0.05 }
            let matrices = WeightFormat.allCases.map { WeightMatrix(values: values, rows: shape.n, columns: shape.k, format: $0) }
            for m in ms {
                let x = (0..<(m * shape.k)).map { Float(cos(Double($0) * 0.11)) }
                var y = [Float](repeating: 0, count: m * shape.n)
                let blas = Self.time(seconds) {
                    values.withUnsafeBufferPointer { w in
                        BLAS.gemm(m: m, n: shape.n, k: shape.k, a: x, lda: shape.k, b: w.baseAddress!, ldb: shape.k,
                                  transposeB: true, c: &y, ldc: shape.n)
                    }
                }
                let flops = 2.0 * Double(m * shape.n * shape.k)
                for matrix in matrices {
                    let t = Self.time(seconds) { y.withUnsafeMutableBufferPointer { matrix.multiply(x, m: m, into: $0.baseAddress!) } }
                    print(shape.name.padding(toLength: 20, withPad: " ", startingAt: 0), String(format: "%5d  ", m),
                          matrix.format.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0), String(format: "%9.1f µs %11.1f %9.1f   (%.1f)",
                                 t * 1e6, Double(matrix.bytes) / t / 1e9, flops / t / 1e9, flops / blas / 1e9))
                }
            }
        }
    }

    /// Median seconds per call over about `budget` seconds.
    static func time(_ budget: Double, _ body: () -> Void) -> Double {
        body()
        var samples: [Double] = []
        let end = Date().addingTimeInterval(budget)
        repeat {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        } while Date() < end || samples.count < 3
        return samples.sorted()[samples.count / 2]
    }
}

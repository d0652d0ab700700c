import ByteLatent
import Foundation

/// Times the ways the kernel seam can multiply by a bf16 matrix, for `blt bench-kernels`: the
/// figures that set `DTypeKernels.streamingRowLimit`, and a record of which path ran on which CPU.
public enum KernelBenchmark {
    public struct Result: Sendable {
        public var method: String   // "direct" (C kernel on bf16), "widen+sgemm", "blocked", "bf16-dot"
        public var path: KernelPath
        public var rows: Int
        public var outputs: Int
        public var inputs: Int
        public var seconds: Double  // best of the repetitions
        public var gflops: Double { 2 * Double(rows * outputs * inputs) / seconds / 1e9 }
    }

    /// Who runs many-row products here, and why (OpenBLAS's version and kernel family).
    public static var backends: String { "many-row products: \(ManyRowBackend.summary) (\(ManyRowBackend.reason))" }

    /// Best-of-`repetitions` time of each method for rows × [outputs, inputs] on the active path.
    public static func run(rows: Int, outputs: Int, inputs: Int, repetitions: Int = 5) -> [Result] {
        var state: UInt64 = 1
        let bits = (0..<outputs * inputs).map { _ -> UInt16 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt16(truncatingIfNeeded: 0x3C00 &+ (state >> 52) & 0x1FF) ^ (state & 1 == 0 ? 0 : 0x8000)
        }
        let weight = WeightMatrix(rows: outputs, columns: inputs, dtype: .bf16, bits: bits)
        let x = (0..<rows * inputs).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        var y = [Float](repeating: 0, count: rows * outputs)
        func time(_ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Double {
            var best = Double.infinity
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    // Warm-up of at least a quarter second: on the VMs measured, the first ~0.1 s
                    // of products in a process ran at half speed, which one call did not cover.
                    let warm = DispatchTime.now().uptimeNanoseconds
                    repeat { body(xp.baseAddress!, yp.baseAddress!) } while DispatchTime.now().uptimeNanoseconds - warm < 250_000_000
                    for _ in 0..<repetitions {
                        let start = DispatchTime.now().uptimeNanoseconds
                        body(xp.baseAddress!, yp.baseAddress!)
                        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    }
                }
            }
            return best
        }
        let path = KernelPath.active
        var results = [
            Result(method: "direct", path: path, rows: rows, outputs: outputs, inputs: inputs,
                   seconds: time { KernelSeam.directProduct($0, rows: rows, weight: weight, into: $1) }),
            Result(method: "widen+sgemm", path: path, rows: rows, outputs: outputs, inputs: inputs,
                   seconds: time { KernelSeam.widenedProduct($0, rows: rows, weight: weight, into: $1) }),
        ]
        results.append(Result(method: "blocked", path: path, rows: rows, outputs: outputs, inputs: inputs,
                              seconds: time { KernelSeam.blockedProduct($0, rows: rows, weight: weight, into: $1) }))
        results.append(Result(method: "bf16-dot", path: path, rows: rows, outputs: outputs, inputs: inputs,
                              seconds: time { KernelSeam.product($0, rows: rows, weight: weight, precision: .bfloat16, into: $1) }))
        return results
    }
}

import COpenBLAS
import Foundation

/// The two ceilings of CPU inference on this machine, for `blt bench-kernels --machine`: how fast
/// memory can be read (generation streams weights: its GB/s of weights is bounded by this) and how
/// fast OpenBLAS's fp32 sgemm multiplies (evaluation and prompts are products of many rows: their
/// GFLOP/s is bounded by this). `blt eval` and `blt generate` print their achieved figures in the
/// same units, so the fraction of each limit can be read off on any machine.
public enum MachineLimits {
    public struct Measurement: Sendable {
        /// GB/s (10⁹ bytes) of a plain streaming read of `readBytes` bytes on `threads` threads.
        public var readGigabytesPerSecond: Double
        public var readBytes: Int
        public var threads: Int
        /// GFLOP/s of one fp32 sgemm of `sgemmSize`³ as the engine runs products: the output
        /// columns split into one slice per thread, each through single-threaded OpenBLAS.
        public var sgemmGFLOPS: Double
        public var sgemmSize: Int
        public var repetitions: Int
    }

    /// /proc/cpuinfo's "model name" (the first), or "unknown CPU".
    public static var cpuName: String {
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":", maxSplits: 1).last
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    }

    /// OpenBLAS's build and kernel family ("OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64").
    public static var openBLASConfiguration: String { openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS" }

    /// Both limits, each the best of `repetitions` runs after a warm-up.
    public static func measure(readBytes: Int = 1 << 30, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                               sgemmSize: Int = 2048, repetitions: Int = 5) -> Measurement {
        let read = readBandwidth(bytes: readBytes, threads: threads, repetitions: repetitions)
        let sgemm = sgemmRate(size: sgemmSize, threads: threads, repetitions: repetitions)
        return Measurement(readGigabytesPerSecond: read / 1e9, readBytes: readBytes, threads: max(1, threads),
                           sgemmGFLOPS: sgemm / 1e9, sgemmSize: sgemmSize, repetitions: repetitions)
    }

    /// Bytes per second of reading a buffer of `bytes` bytes (much larger than the caches) once, split
    /// into `threads` contiguous slices read at the same time. The read is glibc's `memchr` for a
    /// byte the buffer does not hold: a vectorised scan of every byte, whatever the build's
    /// optimisation level.
    public static func readBandwidth(bytes: Int, threads: Int, repetitions: Int) -> Double {
        let threads = max(1, threads), size = max(bytes, threads * 4096)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        memset(buffer, 0x5A, size)   // every page written, so none is the shared zero page
        let slice = size / threads
        // Where each slice's scan stopped (nowhere): kept, so the scans are results, not dead code.
        let found = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        defer { found.deallocate() }
        func pass() -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let count = t == threads - 1 ? size - t * slice : slice
                found[t] = memchr(buffer + t * slice, 0xA5, count) == nil ? 0 : 1
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        _ = pass()   // warm-up
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) { best = min(best, pass()) }
        return Double(size) / best
    }

    /// FLOP/s (2 · n³ per product) of C = A · B for n × n fp32 matrices, C's columns split into
    /// `threads` slices, each computed by single-threaded OpenBLAS sgemm (OpenBLAS is held at one
    /// thread, as the engine holds it).
    public static func sgemmRate(size n: Int, threads: Int, repetitions: Int) -> Double {
        let n = max(1, n), threads = max(1, min(threads, n))
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { c.deallocate() }
        if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
        let slice = (n + threads - 1) / threads
        func pass() -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    DispatchQueue.concurrentPerform(iterations: threads) { t in
                        let first = t * slice, count = min(n, first + slice) - first
                        guard count > 0 else { return }
                        let n32 = Int32(n)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n32, Int32(count), n32, 1, a.baseAddress, n32,
                                    b.baseAddress! + first, n32, 0, c + first, n32)
                    }
                }
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        _ = pass()   // warm-up
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) { best = min(best, pass()) }
        return 2 * Double(n) * Double(n) * Double(n) / best
    }
}

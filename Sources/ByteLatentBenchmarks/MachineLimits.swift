import ByteLatent
import COpenBLAS
import Foundation

/// The two ceilings of CPU inference on this machine, for `blt bench-kernels --machine`: how fast
/// memory can be read (generation streams weights: its GB/s of weights is bounded by this) and how
/// fast OpenBLAS's fp32 sgemm multiplies (evaluation and prompts are products of many rows: their
/// GFLOP/s is bounded by about this; the blocked GEMM that multiplies by weights on the avx2 path
/// runs within a few % of it). `blt eval` and `blt generate` print their achieved figures in the
/// same units, so the fraction of each limit can be read off on any machine.
public enum MachineLimits {
    public struct Measurement: Sendable {
        /// GB/s (10⁹ bytes) of a plain streaming read of `readBytes` bytes on `threads` threads.
        public var readGigabytesPerSecond: Double
        public var readBytes: Int
        public var threads: Int
        /// GFLOP/s of one fp32 product of `sgemmSize`³ as the engine runs OpenBLAS: split across
        /// the cores, each slice through single-threaded OpenBLAS.
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
        let sgemm = sgemmRate(size: sgemmSize, repetitions: repetitions)
        return Measurement(readGigabytesPerSecond: read / 1e9, readBytes: readBytes, threads: max(1, threads),
                           sgemmGFLOPS: sgemm / 1e9, sgemmSize: sgemmSize, repetitions: repetitions)
    }

    /// Bytes per second of reading a buffer of `bytes` bytes (much larger than the caches) once, split
    /// into `threads` contiguous slices read at the same time, the best of two ways of reading each
    /// slice: glibc's `memchr` for a byte the buffer does not hold (a vectorised scan, one stream per
    /// thread, fast whatever the build's optimisation level), and four equal runs of the slice read
    /// in step (four streams per thread, as the one-row product kernel reads weights, which on Zen 3
    /// reads 8-10 % faster than one stream: a limit measured one way only would be beaten).
    public static func readBandwidth(bytes: Int, threads: Int, repetitions: Int) -> Double {
        let threads = max(1, threads), size = max(bytes, threads * 4096)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        memset(buffer, 0x5A, size)   // every page written, so none is the shared zero page
        let slice = size / threads
        // What each slice's read found: kept, so the reads are results, not dead code.
        let found = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        defer { found.deallocate() }
        func pass(_ read: (UnsafeRawPointer, Int) -> Int) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                found[t] = read(buffer + t * slice, t == threads - 1 ? size - t * slice : slice)
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        let oneStream: (UnsafeRawPointer, Int) -> Int = { memchr($0, 0xA5, $1) == nil ? 0 : 1 }
        _ = pass(oneStream)   // warm-up
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) { best = min(best, pass(oneStream), pass(readInFourRuns)) }
        return Double(size) / best
    }

    /// Reads `count` bytes at `start` as four equal runs in step, 32 bytes of each at a time (the
    /// remainder alone); returns the bytes OR-ed together, so the reads are a result.
    static func readInFourRuns(_ start: UnsafeRawPointer, _ count: Int) -> Int {
        typealias Lanes = SIMD4<UInt64>
        let step = MemoryLayout<Lanes>.size, run = count / (4 * step) * step
        var a = Lanes(), b = Lanes(), c = Lanes(), d = Lanes()
        var offset = 0
        while offset < run {
            a |= start.loadUnaligned(fromByteOffset: offset, as: Lanes.self)
            b |= start.loadUnaligned(fromByteOffset: run + offset, as: Lanes.self)
            c |= start.loadUnaligned(fromByteOffset: 2 * run + offset, as: Lanes.self)
            d |= start.loadUnaligned(fromByteOffset: 3 * run + offset, as: Lanes.self)
            offset += step
        }
        var rest: UInt64 = 0
        for i in 4 * run ..< count { rest |= UInt64(start.load(fromByteOffset: i, as: UInt8.self)) }
        let all = a | b | c | d
        return Int(truncatingIfNeeded: all[0] | all[1] | all[2] | all[3] | rest)
    }

    /// FLOP/s (2 · n³ per product) of Y = X · Wᵀ for n × n fp32 matrices, as the engine runs
    /// OpenBLAS: split across the cores, each slice by one-thread OpenBLAS sgemm.
    public static func sgemmRate(size n: Int, repetitions: Int) -> Double {
        let n = max(1, n)
        let x = [Float](repeating: 0.5, count: n * n), w = [Float](repeating: 0.25, count: n * n)
        var y = [Float](repeating: 0, count: n * n)
        func pass() -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            KernelSeam.float32Product(x, rows: n, k: n, by: w, columns: n, into: &y)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        _ = pass()   // warm-up
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) { best = min(best, pass()) }
        return 2 * Double(n) * Double(n) * Double(n) / best
    }
}

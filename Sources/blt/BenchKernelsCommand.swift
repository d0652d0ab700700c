import ArgumentParser
import ByteLatent
import ByteLatentBenchmarks
import Foundation

/// `blt bench-kernels`: GFLOP/s of the bf16 weight products on this CPU, per kernel path and row
/// count (BLT_CPU=… forces a path). Not shown in `blt --help`; used for Docs/benchmarks.md.
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Time the bf16 weight-product kernels on this CPU (rows × outputs × inputs).",
        shouldDisplay: false
    )

    @Option(help: "Row counts (activations) to time, comma-separated.")
    var rows: String = "1,2,4,8,16,32,64,256"

    @Option(help: "Weight shape OUTPUTSxINPUTS, e.g. 5632x2048 (blt-1b's FFN).")
    var shape: String = "5632x2048"

    @Option(help: "Repetitions (the best is reported).")
    var repetitions: Int = 5

    @Flag(help: "Instead, measure this machine's limits: read bandwidth (1 GiB, one thread per core) and OpenBLAS's sgemm rate (2048³ fp32).")
    var machine = false

    func run() throws {
        let parts = shape.split(separator: "x").compactMap { Int($0) }
        let rowCounts = rows.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, parts.allSatisfy({ (1...65_536).contains($0) }),
              !rowCounts.isEmpty, rowCounts.allSatisfy({ (1...8192).contains($0) }), (1...1000).contains(repetitions) else {
            throw ValidationError("--shape takes OUTPUTSxINPUTS (1…65536 each), --rows counts in 1…8192, --repetitions 1…1000")
        }
        let cpu = MachineLimits.cpuName
        if machine {
            let m = MachineLimits.measure(repetitions: repetitions)
            print("CPU: \(cpu); \(m.threads) threads; \(MachineLimits.openBLASConfiguration)")
            print(String(format: "read bandwidth  %.1f GB/s (a %d MiB buffer read once by %d threads, one or four streams each, best of %d)",
                         m.readGigabytesPerSecond, m.readBytes >> 20, m.threads, m.repetitions))
            print(String(format: "sgemm           %.1f GFLOP/s (fp32 %d×%d×%d split across the cores, one-thread OpenBLAS per slice, as the engine runs OpenBLAS; best of %d)",
                         m.sgemmGFLOPS, m.sgemmSize, m.sgemmSize, m.sgemmSize, m.repetitions))
            return
        }
        print("CPU: \(cpu); kernel path: \(KernelPath.active); \(KernelBenchmark.backends); shape \(parts[0])×\(parts[1]) bf16")
        print("rows   GFLOP/s: direct   widen+sgemm   blocked   bf16-dot")
        for r in rowCounts {
            let results = KernelBenchmark.run(rows: r, outputs: parts[0], inputs: parts[1], repetitions: repetitions)
            let figures = results.map { String(format: "%8.1f", $0.gflops) }
            print(String(format: "%4d", r) + "          " + figures.joined(separator: "     "))
        }
    }
}

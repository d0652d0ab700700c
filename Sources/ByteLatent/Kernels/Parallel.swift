import CKernels
import COpenBLAS
import Dispatch
import Foundation

/// Runs `body(i)` for i in 0..<count on the engine's workers (`blt_workers_run`: one per core
/// besides the caller, spinning briefly between jobs so the next product starts at once), or on
/// Dispatch's pool when another job holds them (a nested loop, another context's pass).
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 {
        if count == 1 { body(0) }
        return
    }
    let ran = withoutActuallyEscaping(body) { body in
        var job = WorkerJob(body: body)
        return withUnsafeMutablePointer(to: &job) { job in
            blt_workers_run(count, { context, index in
                context!.assumingMemoryBound(to: WorkerJob.self).pointee.body(index)
            }, job, Int32(coreCount - 1), workerSpinMicroseconds) == 0
        }
    }
    if !ran { DispatchQueue.concurrentPerform(iterations: count, execute: body) }
}

private struct WorkerJob {
    let body: (Int) -> Void
}

/// How long idle workers spin before they sleep: longer than the gaps between a generation step's
/// products (norms, attention of one query), far shorter than a pause in the caller's work.
let workerSpinMicroseconds: Int32 = 50

let coreCount = max(1, Foundation.ProcessInfo.processInfo.activeProcessorCount)

/// Splits 0..<total into contiguous chunks and runs them in parallel, handed out in order, each
/// 1/(2·cores) of what is left but at least `minimumChunk` (guided scheduling): large chunks
/// first, small ones last, so the workers finish within a small chunk of each other (equal
/// chunks kept one of them waiting for half a chunk on average).
func parallelChunks(_ total: Int, minimumChunk: Int = 64, _ body: (Range<Int>) -> Void) {
    guard total > 0 else { return }
    let minimum = max(minimumChunk, 1)
    func next(after bound: Int) -> Int {
        let rest = total - bound
        return bound + min(rest, max(minimum, rest / (2 * coreCount)))
    }
    var chunks = 0, bound = 0
    while bound < total { bound = next(after: bound); chunks += 1 }
    // The bounds on the stack: decoding runs this hundreds of times per byte.
    withUnsafeTemporaryAllocation(of: Int.self, capacity: chunks + 1) { bounds in
        bounds[0] = 0
        for c in 0 ..< chunks { bounds[c + 1] = next(after: bounds[c]) }
        runRanges(chunks, bound: { bounds[$0] }, body)
    }
}

/// Splits 0..<total into at most `coreCount` contiguous slices whose bounds are multiples of
/// `granularity` (but the last), each at least `minimumSlice` long, and runs them at once: one
/// slice per worker, so a product's shared operand is packed once per worker, not per chunk.
func parallelSlices(_ total: Int, granularity: Int = 16, minimumSlice: Int, _ body: (Range<Int>) -> Void) {
    guard total > 0 else { return }
    let count = max(1, min(coreCount, total / max(minimumSlice, 1)))
    let units = (total + granularity - 1) / granularity
    let slice = (units + count - 1) / count * granularity
    runRanges((total + slice - 1) / slice, bound: { min(total, $0 * slice) }, body)
}

/// Runs body(bound(i) ..< bound(i + 1)) for i in 0..<count on the workers: the one loop under
/// both ways of cutting a range.
private func runRanges(_ count: Int, bound: (Int) -> Int, _ body: (Range<Int>) -> Void) {
    parallelFor(count) { i in body(bound(i) ..< bound(i + 1)) }
}

/// OpenBLAS runs on one thread, always; the engine splits each product across its own workers
/// (`parallelSlices`). OpenBLAS 0.3.21 has one thread count for the whole process
/// (`openblas_set_num_threads_local` came in 0.3.27), so a context cannot own a setting of its
/// own; and its threads wait for each other in `sched_yield` on mid-sized products. Held at one,
/// the count is never changed again, so contexts on several threads never see each other.
enum OpenBLASThreads {
    /// Sets OpenBLAS to one thread if anything (an embedding application) set it otherwise.
    /// Called before every product: reading the count is one load.
    @inline(__always)
    static func holdAtOne() {
        if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
    }
}

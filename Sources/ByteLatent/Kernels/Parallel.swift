import COpenBLAS
import Dispatch
import Foundation

/// Runs `body(i)` for i in 0..<count on Dispatch's pool (one thread per core). Used for the Swift
/// loops (attention heads, gathers, pooling); it never runs at the same time as a BLAS call, so
/// it does not oversubscribe OpenBLAS's own threads.
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 {
        if count == 1 { body(0) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: count, execute: body)
}

let coreCount = max(1, Foundation.ProcessInfo.processInfo.activeProcessorCount)

/// Splits 0..<total into contiguous chunks of at least `minimumChunk` and runs them in parallel.
func parallelChunks(_ total: Int, minimumChunk: Int = 64, _ body: (Range<Int>) -> Void) {
    guard total > 0 else { return }
    let chunkCount = max(1, min(total / max(minimumChunk, 1), coreCount * 4))
    let chunk = (total + chunkCount - 1) / chunkCount
    parallelFor((total + chunk - 1) / chunk) { c in
        body(c * chunk ..< min(total, (c + 1) * chunk))
    }
}

/// OpenBLAS 0.3.21 has one thread count for the whole process (`openblas_set_num_threads_local`
/// came in 0.3.27), and attention holds it at one thread while it parallelises over heads itself.
/// So that two contexts on two threads never see each other's setting, one lock serialises every
/// product that runs on OpenBLAS's threads (`onBLASThreads`) against every section that holds
/// OpenBLAS to one thread (`withSingleThreadedBLAS`). One product already keeps both cores busy, so
/// contexts lose nothing by taking turns at it; a single context pays an uncontended lock per product.
private let openBLASThreadLock = NSLock()

/// Runs a product that uses OpenBLAS's own threads.
func onBLASThreads(_ body: () -> Void) {
    openBLASThreadLock.lock()
    body()
    openBLASThreadLock.unlock()
}

/// Runs `body` with OpenBLAS limited to one thread (the caller parallelises), then restores it.
/// Inside `body`, BLAS calls run on the calling workers' threads and must not take `onBLASThreads`.
func withSingleThreadedBLAS(_ body: () -> Void) {
    openBLASThreadLock.lock()
    defer { openBLASThreadLock.unlock() }
    let threads = openblas_get_num_threads()
    if threads > 1 { openblas_set_num_threads(1) }
    body()
    if threads > 1 { openblas_set_num_threads(threads) }
}

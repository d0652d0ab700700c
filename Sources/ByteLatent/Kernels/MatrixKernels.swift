import CKernels
import COpenBLAS
import Foundation

/// Arithmetic of weight products. `.float32` (the default) matches the reference: fp32 activations,
/// fp32 products and sums. `.bfloat16` rounds activations to bf16 before every weight product and
/// accumulates bf16 × bf16 products in fp32 — `vdpbf16ps` on CPUs with AVX512-BF16, AMX tiles on
/// CPUs with AMX (the same numbers, computed by widening, elsewhere). Keys and values are bf16
/// wherever attention reads them (KV caches store them so, a pass rounds its own); on the amx path
/// q and the softmax weights are rounded too (as torch's bf16 attention), elsewhere they stay fp32.
/// See Docs/benchmarks.md for its effect on bits per byte.
public enum Precision: String, Sendable, CaseIterable {
    case float32 = "fp32"
    case bfloat16 = "bf16"
}

/// The kernel paths this CPU runs, and the one in use (BLT_CPU=generic|avx2|avx512|avx512bf16|amx
/// forces one; see `checkEnvironment` for a value this CPU cannot honour). `amx` is avx512bf16 plus
/// AMX tiles for bf16-precision products.
public enum KernelPath: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case generic = 0, avx2, avx512, avx512bf16, amx

    public static var active: KernelPath { KernelPath(rawValue: blt_active_path()) ?? .generic }
    public static var supported: [KernelPath] { allCases.filter { blt_path_supported($0.rawValue) != 0 } }
    public var description: String { String(cString: blt_path_name(rawValue)) }

    /// Selects a path for what follows (tests); false when the CPU cannot run it.
    @discardableResult
    static func select(_ path: KernelPath) -> Bool { blt_select_path(path.rawValue) != 0 }
}

/// The one kernel seam: every product of the engine goes through here. Weight products are keyed
/// by the weight's stored dtype (`DTypeKernels`, in the style of ggml's per-type traits); products
/// of two activations (attention) are `activationProduct`.
enum MatrixKernels {
    /// y[rows, N] = x[rows, K] · Wᵀ for W [N, K].
    static func multiply(_ x: UnsafePointer<Float>, rows: Int, by weight: WeightMatrix, precision: Precision,
                         into y: UnsafeMutablePointer<Float>, scratch: ProductScratch = .shared) {
        guard rows > 0, weight.rows > 0 else { return }
        OpenBLASThreads.holdAtOne()
        if weight.columns == 0 {
            y.update(repeating: 0, count: rows * weight.rows)
            return
        }
        switch precision {
        case .float32:
            DTypeKernels.for(weight.dtype).product(x, rows, weight, y, scratch)
        case .bfloat16:
            multiplyInBF16(x, rows: rows, by: weight, into: y, scratch: scratch)
        }
    }

    /// The same x by several weights (q, k and v; gate and up): ys[i] = x · weights[i]ᵀ. Under bf16
    /// precision x is rounded once for all of them: packed into tiles once on AMX, kept as fp32 where
    /// the products are fp32 ones. A few rows of 2-byte weights (decoding) run the direct kernel over
    /// all the weights' rows in one hand-out of chunks, so a step waits once for the last chunk, not
    /// once per weight; elsewhere it is `multiply`, one by one.
    static func multiply(_ x: UnsafePointer<Float>, rows: Int, by weights: [WeightMatrix], precision: Precision,
                         into ys: [UnsafeMutablePointer<Float>], scratch: ProductScratch = .shared) {
        precondition(weights.count == ys.count, "one output per weight")
        if precision == .bfloat16, let k = weights.first?.columns {
            if weights.allSatisfy({ runsOnTiles($0, rows: rows) && $0.columns == k && $0.rows > 0 }) {
                multiplyOnTiles(x, rows: rows, by: weights, into: ys, scratch: scratch)
                return
            }
            if weights.allSatisfy({ $0.columns == k && !runsOnTiles($0, rows: rows) && !runsBF16Dots($0) }) {
                withRoundedToBF16(x, count: rows * k, scratch: scratch) {
                    multiply($0, rows: rows, by: weights, precision: .float32, into: ys, scratch: scratch)
                }
                return
            }
        }
        // Exactly the products that `multiply` would hand one by one to the direct kernels.
        if precision == .float32, weights.count > 1, let k = weights.first?.columns, k > 0,
           weights.allSatisfy({ $0.columns == k && DTypeKernels.runsDirect(rows: rows, dtype: $0.dtype) }) {
            OpenBLASThreads.holdAtOne()
            DTypeKernels.directProduct(x, rows: rows, weights: weights, into: ys)
            return
        }
        for (weight, y) in zip(weights, ys) { multiply(x, rows: rows, by: weight, precision: precision, into: y, scratch: scratch) }
    }

    /// Whether bf16-precision products of few rows by `weight` run as bf16 dot products (bf16
    /// weights on AVX512-BF16 or AMX).
    private static func runsBF16Dots(_ weight: WeightMatrix) -> Bool {
        weight.dtype == .bf16 && (KernelPath.active == .avx512bf16 || KernelPath.active == .amx)
    }

    /// C[m, n] = alpha · A[m, k] · B (B is [n, k] when `transposeB`, else [k, n]), fp32, on the
    /// calling thread: callers parallelise. The C
    /// target's tiles when OpenBLAS has no kernel for this CPU (`ManyRowBackend.activations`), else OpenBLAS.
    static func activationProduct(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                                  b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                                  c: UnsafeMutablePointer<Float>, ldc: Int) {
        if ManyRowBackend.activations == .blocked,
           blt_activation_product(transposeB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, c, ldc) == 0 {
            return
        }
        OpenBLASThreads.holdAtOne()
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
    }

    /// bf16 activations: round x, then AMX tiles or bf16 dot products where the CPU has them, else
    /// the same rounded values widened back to fp32 through the dtype's ordinary product.
    private static func multiplyInBF16(_ x: UnsafePointer<Float>, rows: Int, by weight: WeightMatrix,
                                       into y: UnsafeMutablePointer<Float>, scratch: ProductScratch) {
        let k = weight.columns, count = rows * k
        if runsOnTiles(weight, rows: rows) {
            multiplyOnTiles(x, rows: rows, by: [weight], into: [y], scratch: scratch)
            return
        }
        if runsBF16Dots(weight) {
            scratch.withHalves(count: count) { rounded in
                blt_round_to_bf16(x, rounded, count)
                let w = weight.base.assumingMemoryBound(to: UInt16.self)
                parallelChunks(weight.rows, minimumChunk: max(32, 65_536 / k)) { range in
                    blt_matmul_bf16_dot(w, k, rounded, rows, y, weight.rows, range.lowerBound, range.upperBound)
                }
            }
            return
        }
        withRoundedToBF16(x, count: count, scratch: scratch) {
            DTypeKernels.for(weight.dtype).product($0, rows, weight, y, scratch)
        }
    }

    /// x rounded to bf16 and kept as fp32 (in one pass, across the workers), for `body`: bf16
    /// precision where the CPU has no bf16 products.
    private static func withRoundedToBF16(_ x: UnsafePointer<Float>, count: Int, scratch: ProductScratch,
                                          _ body: (UnsafePointer<Float>) -> Void) {
        scratch.with(count: count) { rounded in
            parallelChunks(count, minimumChunk: 32_768) { range in
                blt_round_floats_to_bf16(x + range.lowerBound, rounded + range.lowerBound, range.count)
            }
            body(UnsafePointer(rounded))
        }
    }
}

extension MatrixKernels {
    /// From this many rows AMX tiles beat vdpbf16ps (a block of y is 32 rows; Docs/benchmarks.md).
    static let tileRowMinimum = 16

    /// Whether a bf16-precision product of `rows` rows by `weight` runs on AMX tiles.
    static func runsOnTiles(_ weight: WeightMatrix, rows: Int) -> Bool {
        weight.dtype == .bf16 && KernelPath.active == .amx && weight.columns % 32 == 0 && weight.columns > 0 && rows >= tileRowMinimum
    }

    /// AMX: x rounded and packed into tiles once (in 32-row blocks, across cores) for every weight,
    /// then each weight's rows split across cores in passes of up to 256, packed and multiplied while
    /// they sit in L2.
    private static func multiplyOnTiles(_ x: UnsafePointer<Float>, rows: Int, by weights: [WeightMatrix],
                                        into ys: [UnsafeMutablePointer<Float>], scratch: ProductScratch) {
        let k = weights[0].columns
        scratch.withHalves(count: blt_amx_packed_count(rows, k)) { packed in
            let blocks = (rows + 31) / 32
            parallelChunks(blocks, minimumChunk: max(1, 4096 / k)) { range in
                let first = range.lowerBound * 32, count = min(rows, range.upperBound * 32) - first
                let status = blt_amx_pack(x + first * k, count, k, packed + first * k)
                precondition(status == 0, "the amx path is active and k is a multiple of 32")
            }
            for (weight, y) in zip(weights, ys) {
                let n = weight.rows, w = weight.base.assumingMemoryBound(to: UInt16.self)
                // Two chunks per core (balanced), of at least four 32-row panels (a pass of the kernel).
                let panels = (n + 31) / 32
                parallelChunks(panels, minimumChunk: max(4, panels / (2 * coreCount))) { range in
                    let status = blt_amx_matmul(w, k, packed, rows, y, n, range.lowerBound * 32, min(n, range.upperBound * 32))
                    precondition(status == 0, "the amx path is active and k is a multiple of 32")
                }
            }
        }
    }
}

/// What the engine needs for one weight dtype. A new dtype or backend is one new case.
struct DTypeKernels {
    /// y[rows, N] = x[rows, K] · Wᵀ, fp32 accumulation.
    let product: (_ x: UnsafePointer<Float>, _ rows: Int, _ weight: WeightMatrix, _ y: UnsafeMutablePointer<Float>,
                  _ scratch: ProductScratch) -> Void

    static func `for`(_ dtype: WeightDType) -> DTypeKernels {
        switch dtype {
        case .f32: return float32
        case .bf16, .f16: return halfWidth
        }
    }

    /// fp32 weights: OpenBLAS straight on the mapped matrix, its columns split across workers
    /// (sgemv for one row: sgemm with M = 1 is 3–8× slower on OpenBLAS 0.3.21), or for many rows
    /// the blocked GEMM (`ManyRowBackend`).
    static let float32 = DTypeKernels { x, rows, weight, y, _ in
        let n = weight.rows, k = weight.columns
        let w = weight.base.assumingMemoryBound(to: Float.self)
        if rows == 1 {
            parallelSlices(n, minimumSlice: max(16, 65_536 / k)) { range in
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(range.count), Int32(k), 1, w + range.lowerBound * k, Int32(k),
                            x, 1, 0, y + range.lowerBound, 1)
            }
        } else if ManyRowBackend.current == .openBLAS {
            splitProduct(x, rows: rows, k: k, by: w, columns: n, into: y, ldy: n)
        } else {
            blockedProduct(x, rows: rows, weight: weight, into: y)
        }
    }

    /// y[rows, columns] (row stride ldy) = x[rows, k] · w[columns, k]ᵀ on the calling thread.
    static func sgemm(_ x: UnsafePointer<Float>, rows: Int, k: Int, by w: UnsafePointer<Float>, columns: Int,
                      into y: UnsafeMutablePointer<Float>, ldy: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(columns), Int32(k),
                    1, x, Int32(k), w, Int32(k), 0, y, Int32(ldy))
    }

    /// y = x · wᵀ across the workers: by rows from `rowSplitMinimum` rows (each worker packs half
    /// of x and all of w, which keeps w's panels in the shared L3 for both), else by columns.
    static func splitProduct(_ x: UnsafePointer<Float>, rows: Int, k: Int, by w: UnsafePointer<Float>, columns n: Int,
                             into y: UnsafeMutablePointer<Float>, ldy: Int) {
        if rows >= rowSplitMinimum {
            parallelSlices(rows, minimumSlice: 256) { range in
                sgemm(x + range.lowerBound * k, rows: range.count, k: k, by: w, columns: n, into: y + range.lowerBound * ldy, ldy: ldy)
            }
        } else {
            parallelSlices(n, minimumSlice: sliceMinimum(rows: rows, k: k)) { range in
                sgemm(x, rows: rows, k: k, by: w + range.lowerBound * k, columns: range.count, into: y + range.lowerBound, ldy: ldy)
            }
        }
    }

    /// From this many rows products are split by rows (measured on Zen 3, Docs/benchmarks.md).
    static let rowSplitMinimum = 1024

    /// Fewest output columns worth a worker of their own: about 2 MFLOP of work.
    static func sliceMinimum(rows: Int, k: Int) -> Int { max(16, 1_048_576 / max(1, rows * k)) }

    /// bf16 / f16 weights. Few rows (generation, short batches) are bound by reading the weights:
    /// the C kernels read the 2-byte values directly, half the bytes of an fp32 copy. Many rows
    /// (prefill, eval) are bound by arithmetic: the blocked GEMM widens the weights as it packs
    /// them, or (`ManyRowBackend`) a panel of weight rows is widened into a reused scratch buffer
    /// for OpenBLAS's sgemm.
    static let halfWidth = DTypeKernels { x, rows, weight, y, scratch in
        if runsDirect(rows: rows, dtype: weight.dtype) {
            directProduct(x, rows: rows, weight: weight, into: y)
        } else if ManyRowBackend.current == .openBLAS {
            widenedProduct(x, rows: rows, weight: weight, into: y, scratch: scratch)
        } else {
            blockedProduct(x, rows: rows, weight: weight, into: y)
        }
    }

    /// The C target's blocked GEMM (packed fp32 panels, register tiles), weight rows split across
    /// cores: one slice per worker, as the AVX2 kernel packs x once per call.
    static func blockedProduct(_ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, into y: UnsafeMutablePointer<Float>) {
        let n = weight.rows, k = weight.columns, dtype = weight.dtype.kernelDType
        parallelSlices(n, minimumSlice: 64) { range in
            blt_gemm(dtype, weight.base, k, x, rows, y, n, range.lowerBound, range.upperBound)
        }
    }

    /// The C kernels on the stored values, weight rows split across cores (the last chunks hold
    /// about 32 KB of weights: microseconds, far more than handing one out costs).
    static func directProduct(_ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, into y: UnsafeMutablePointer<Float>) {
        directProduct(x, rows: rows, weights: CollectionOfOne(weight), into: CollectionOfOne(y))   // no array per product
    }

    /// The same for several weights of one input size, their rows chunked end to end as if they
    /// were one matrix (a chunk may span two of them). A row's result does not depend on its chunk.
    static func directProduct<Weights: Collection<WeightMatrix>, Outputs: Collection<UnsafeMutablePointer<Float>>>(
        _ x: UnsafePointer<Float>, rows: Int, weights: Weights, into ys: Outputs
    ) {
        guard let k = weights.first?.columns else { return }
        let total = weights.reduce(0) { $0 + $1.rows }
        parallelChunks(total, minimumChunk: max(16, 16_384 / max(k, 1))) { range in
            var first = 0
            for (weight, y) in zip(weights, ys) {
                let from = max(range.lowerBound, first) - first, to = min(range.upperBound, first + weight.rows) - first
                if from < to { blt_matmul(weight.dtype.kernelDType, weight.base, k, x, rows, y, weight.rows, from, to) }
                first += weight.rows
            }
        }
    }

    /// Panels of weight rows widened to fp32 in a reused scratch buffer, then OpenBLAS sgemm: each
    /// worker widens its slice of the panel's columns and multiplies it while it is fresh.
    static func widenedProduct(_ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, into y: UnsafeMutablePointer<Float>,
                               scratch: ProductScratch = .shared) {
        let n = weight.rows, k = weight.columns, dtype = weight.dtype.kernelDType
        let panelRows = max(1, min(n, panelElements / k))
        scratch.with(count: panelRows * k) { panel in
            var first = 0
            while first < n {
                let count = min(panelRows, n - first)
                if rows >= rowSplitMinimum {
                    parallelSlices(count, minimumSlice: max(16, 262_144 / k)) { range in
                        blt_widen(dtype, weight.row(first + range.lowerBound), panel + range.lowerBound * k, range.count * k)
                    }
                    splitProduct(x, rows: rows, k: k, by: panel, columns: count, into: y + first, ldy: n)
                } else {
                    parallelSlices(count, minimumSlice: sliceMinimum(rows: rows, k: k)) { range in
                        let slice = panel + range.lowerBound * k
                        blt_widen(dtype, weight.row(first + range.lowerBound), slice, range.count * k)
                        sgemm(x, rows: rows, k: k, by: slice, columns: range.count, into: y + first + range.lowerBound, ldy: n)
                    }
                }
                first += count
            }
        }
    }

    /// Up to this many rows the direct kernels beat widen + sgemm (measured, Docs/benchmarks.md).
    static let streamingRowLimit = 8

    /// Whether a product of `rows` rows by weights of `dtype` runs the direct kernels on the
    /// stored values (few rows of 2-byte weights).
    static func runsDirect(rows: Int, dtype: WeightDType) -> Bool { rows <= streamingRowLimit && dtype != .f32 }

    /// Widened panel size: 16 Mi floats (64 MB) holds any blt-1b matrix whole; blt-7b's FFN
    /// matrices take three panels.
    static let panelElements = 16 * 1024 * 1024
}

/// Who multiplies many rows (prefill, evaluation): by a weight matrix (`current`), and two
/// activations (attention's blocks of queries, `activations`).
/// - The C target's blocked GEMM multiplies by weights on the avx2 path: it packs the weights
///   straight from their stored dtype and writes its outputs once, where OpenBLAS (whose Zen and
///   Haswell kernels it matches in the inner loop) needs a widened copy of bf16 weights and a pass
///   zeroing the output, so it is faster at every row count (Docs/benchmarks.md).
/// - OpenBLAS multiplies by weights on the AVX-512 paths when it runs a kernel made for this CPU's
///   vector units, and multiplies activations wherever it has one.
/// - The blocked GEMM and the C tiles do all of it when OpenBLAS has no kernel for this CPU:
///   Debian's OpenBLAS 0.3.21 does not know CPUs newer than it (e.g. Intel's Emerald Rapids,
///   family 6 model 207) and falls back to its SSE3 "Prescott" kernels, far below what AVX2/AVX-512 reach.
/// BLT_GEMM=openblas|blocked puts both kinds of product on one backend (benchmarks, the test matrix).
public enum ManyRowBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    case openBLAS = "openblas", blocked

    /// Who multiplies many rows by weights.
    public static var current: ManyRowBackend { choice.weights }
    /// Who multiplies two activations (attention).
    public static var activations: ManyRowBackend { choice.activations }
    /// `current`, and `activations` where it differs: "openblas", "blocked" or
    /// "blocked, attention: openblas".
    public static var summary: String { choice.summary }
    /// Why, e.g. "forced by BLT_GEMM; OpenBLAS 0.3.21 core Haswell" or
    /// "OpenBLAS 0.3.21 core Prescott has no kernel for this CPU".
    public static var reason: String { choice.reason }
    public var description: String { rawValue }

    /// The backends of the two kinds of many-row product, and why.
    struct Choice: Equatable {
        var weights: ManyRowBackend
        var activations: ManyRowBackend
        var reason: String

        init(_ weights: ManyRowBackend, activations: ManyRowBackend? = nil, reason: String) {
            self.weights = weights
            self.activations = activations ?? weights
            self.reason = reason
        }

        var summary: String { weights == activations ? "\(weights)" : "\(weights), attention: \(activations)" }
    }

    private static let choice = choose(gemm: .environment, cpu: .environment)

    /// The backends for BLT_GEMM and BLT_CPU on a CPU that runs `supported` and an OpenBLAS
    /// running `core`'s kernels (by default this CPU and OpenBLAS), and why. An unknown BLT_GEMM
    /// leaves the choice to the engine (`KernelPath.checkEnvironment` reports it).
    static func choose(gemm: BackendRequest, cpu: PathRequest, supported: [KernelPath] = KernelPath.supported,
                       core: String = openBLASCore) -> Choice {
        let build = openBLASBuild(core: core)
        if case .honoured(let backend) = gemm { return Choice(backend, reason: "forced by BLT_GEMM; \(build)") }
        #if arch(x86_64)
        // Decided from what the CPU can run (BLT_CPU=generic asks for portable code everywhere),
        // not from the path selected at the moment, which tests change.
        if cpu == .honoured(.generic) { return Choice(.openBLAS, reason: "\(build); BLT_CPU=generic asks for portable kernels") }
        if !supported.contains(.avx2) { return Choice(.openBLAS, reason: "\(build); no AVX2 for the blocked GEMM") }
        let native = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]
        if !native.contains(core.lowercased()) { return Choice(.blocked, reason: "\(build) has no kernel for this CPU") }
        if cpu.path(supported: supported) == .avx2 {
            return Choice(.blocked, activations: .openBLAS,
                          reason: "the avx2 path's GEMM packs weights from their stored dtype; \(build) multiplies activations")
        }
        return Choice(.openBLAS, reason: "\(build) has a kernel for this CPU")
        #else
        return Choice(.openBLAS, reason: build)
        #endif
    }

    /// OpenBLAS's kernel family, e.g. "Haswell", "SkylakeX", "Prescott".
    static var openBLASCore: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// OpenBLAS's version and kernel family, e.g. "OpenBLAS 0.3.21 core Haswell".
    static var openBLASBuild: String { openBLASBuild(core: openBLASCore) }

    /// This OpenBLAS's version with `core` as its kernel family.
    static func openBLASBuild(core: String) -> String {
        let config = openblas_get_config().map { String(cString: $0) } ?? ""
        let words = config.split(separator: " ")
        let version = words.count > 1 && words[0] == "OpenBLAS" ? " \(words[1])" : ""
        return "OpenBLAS\(version) core \(core)"
    }
}

/// Scratch buffers reused across products (one per concurrent caller): widened weight panels, and
/// activations rounded or packed to bf16. A fresh multi-MB buffer per product would cost an mmap
/// and its page faults every time. Each context's workspace has its own (`Workspace.scratch`);
/// `shared` serves callers without a context (kernel tests, benchmarks). A caller gets the
/// smallest free buffer that is large enough, else the largest free one grown to fit, so buffers
/// converge on the sizes asked for and a repeated pass allocates nothing.
final class ProductScratch: @unchecked Sendable {   // every field is guarded by `lock`
    static let shared = ProductScratch()
    private let lock = NSLock()
    private var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
    private var largeCount = 0
    private var reserved = 0

    deinit { for b in free { b.pointer.deallocate() } }

    /// Allocations above `Workspace.largeAllocationBytes` so far.
    var largeAllocations: Int { lock.withLock { largeCount } }
    /// Bytes held by this pool.
    var reservedBytes: Int { lock.withLock { reserved } }

    func with(count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) {
        let b = take(count: max(count, 1))
        body(b.pointer)
        lock.withLock { free.append(b) }
    }

    private func take(count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        lock.lock()
        defer { lock.unlock() }
        if let fit = free.indices.filter({ free[$0].capacity >= count }).min(by: { free[$0].capacity < free[$1].capacity }) {
            return free.remove(at: fit)
        }
        if let largest = free.indices.max(by: { free[$0].capacity < free[$1].capacity }) {
            let old = free.remove(at: largest)
            old.pointer.deallocate()
            reserved -= old.capacity * 4
        }
        if count * 4 > Workspace.largeAllocationBytes { largeCount += 1 }
        reserved += count * 4
        return (UnsafeMutablePointer<Float>.allocate(capacity: count), count)
    }

    /// `count` 16-bit values (bf16 bits) in a buffer of the same pool.
    func withHalves(count: Int, _ body: (UnsafeMutablePointer<UInt16>) -> Void) {
        with(count: (count + 1) / 2) { floats in
            floats.withMemoryRebound(to: UInt16.self, capacity: count) { body($0) }
        }
    }
}

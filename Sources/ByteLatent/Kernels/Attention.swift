import CKernels
import Foundation

/// Shapes of one multi-head attention call. Queries are [queryCount, headCount·headDimension];
/// keys and values are [keyCount, keyValueHeadCount·headDimension] (grouped-query attention:
/// key/value head g serves query heads g·r ..< (g+1)·r).
struct AttentionShape {
    var headCount: Int
    var keyValueHeadCount: Int
    var headDimension: Int
    var queryWidth: Int { headCount * headDimension }
    var keyWidth: Int { keyValueHeadCount * headDimension }
}

/// The keys and values an attention call reads: `keyCount` rows of `keyWidth` values each, fp32 (a
/// pass's own, a cross-attention's) or bf16 (a KV cache under bf16 precision).
struct KeyValueRows {
    let keys: UnsafeRawPointer
    let values: UnsafeRawPointer
    /// `.f32` or `.bf16`.
    let dtype: WeightDType
}

extension KeyValueRows {
    init(keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
        self.init(keys: UnsafeRawPointer(keys), values: UnsafeRawPointer(values), dtype: .f32)
    }
}

/// The one attention routine of the engine (self-attention of all four transformers and both
/// cross-attentions). Masks are key ranges: query i sees keys `keyRange(i)`, softmax(q·kᵀ/√d)·v.
/// A query whose range is empty attends uniformly to the keys `fullyMaskedRange(i)` (all keys by
/// default), which is what the reference's additive `finfo.min` mask yields for a fully masked row
/// (e.g. an empty trailing patch); in a packed pass that is the query's own sequence.
///
/// Blocks of queries run as two small GEMMs per head over the union of their key ranges (scores,
/// then weights × values), one block per Dispatch worker with OpenBLAS held to one thread, so
/// the work stays proportional to the window, not the sequence. A single query (generation)
/// takes one kernel call per head instead (`blt_attend_one`). Blocks never straddle `queryGroups`
/// (a packed pass's sequences): each sequence then gets the same blocks, GEMM shapes and sums as
/// when it runs alone.
///
/// Per-query key ranges and the kernels' scratch come from `workspace` (the calling context's; a
/// fresh one for callers without a context). bf16 keys and values are read as they are by the
/// single query; blocks of queries widen the rows they can see to fp32 once per call.
///
/// Under bf16 precision callers pass bf16 keys and values (a cache's, a pass's rounded: see
/// `TransformerBlock`). With bf16 `precision` on the amx path, blocks run on AMX tiles with q and the
/// weights rounded to bf16 too (what torch's bf16 attention computes); elsewhere q, the scores and
/// the weights stay fp32.
func attention(queries: UnsafePointer<Float>, queryCount: Int, keysAndValues stored: KeyValueRows, keyCount: Int,
               shape: AttentionShape, keyRange: (Int) -> Range<Int>,
               fullyMaskedRange: ((Int) -> Range<Int>)? = nil, queryGroups: [Range<Int>]? = nil,
               precision: Precision = .float32, output: UnsafeMutablePointer<Float>, workspace: Workspace = Workspace()) {
    // Each query's visible keys, and whether they are weighted uniformly (a fully masked row).
    let uniform = workspace.buffer(.uniformRows, queryCount, of: Bool.self)
    let ranges = workspace.buffer(.keyRanges, queryCount, of: Range<Int>.self)
    for i in 0..<queryCount {
        let r = keyRange(i)
        uniform[i] = r.isEmpty
        ranges[i] = r.isEmpty ? fullyMaskedRange?(i) ?? 0..<keyCount : r
    }
    if queryCount == 1 {
        let count = ranges[0].count, scores = workspace.floats(.attentionScores, shape.headCount * max(count, 1))
        parallelFor(shape.headCount) { head in
            attendOne(queries: queries, stored: stored, shape: shape, head: head, range: ranges[0],
                      uniform: uniform[0], scores: scores + head * count, output: output)
        }
        return
    }
    var keys = stored.keys.assumingMemoryBound(to: Float.self), values = stored.values.assumingMemoryBound(to: Float.self)
    var keyCount = keyCount
    if stored.dtype != .f32 {
        // The rows any query sees, widened once; ranges then count from the first of them.
        var lower = Int.max, upper = Int.min
        for i in 0..<queryCount where !ranges[i].isEmpty {
            lower = min(lower, ranges[i].lowerBound); upper = max(upper, ranges[i].upperBound)
        }
        if lower >= upper { (lower, upper) = (0, 0) }
        let count = (upper - lower) * shape.keyWidth, skipped = lower * shape.keyWidth * stored.dtype.byteSize
        let widenedKeys = workspace.floats(.widenedKeys, count), widenedValues = workspace.floats(.widenedValues, count)
        blt_widen(stored.dtype.kernelDType, stored.keys + skipped, widenedKeys, count)
        blt_widen(stored.dtype.kernelDType, stored.values + skipped, widenedValues, count)
        for i in 0..<queryCount where !ranges[i].isEmpty { ranges[i] = ranges[i].lowerBound - lower ..< ranges[i].upperBound - lower }
        (keys, values, keyCount) = (UnsafePointer(widenedKeys), UnsafePointer(widenedValues), upper - lower)
    }
    let blockSize = 64
    var blocks: [Range<Int>] = []
    for group in queryGroups ?? [0..<queryCount] {
        blocks += stride(from: group.lowerBound, to: group.upperBound, by: blockSize).map { $0 ..< min(group.upperBound, $0 + blockSize) }
    }
    // Scores of the largest block: each of a fixed number of workers has a buffer of that size in
    // the workspace, whichever thread runs it.
    let scoreCount = blocks.reduce(1) { max($0, $1.count * (visibleKeys(of: $1, ranges: ranges)?.count ?? 0)) }
    if precision == .bfloat16, KernelPath.active == .amx, shape.headDimension % 32 == 0 {
        attendOnTiles(queries: queries, queryCount: queryCount, keys: keys, values: values, keyCount: keyCount,
                      shape: shape, blocks: blocks, ranges: ranges, uniform: uniform, output: output,
                      scoreCount: scoreCount, workspace: workspace)
        return
    }
    // Each worker (a fixed number) takes the next (head, block) task until none is left, so the
    // load stays balanced while every worker keeps its own scores buffer.
    let taskCount = shape.headCount * blocks.count, workerCount = min(taskCount, coreCount)
    let scores = workspace.floats(.attentionScores, workerCount * scoreCount)
    let tasks = TaskCounter()
    parallelFor(workerCount) { worker in
        while let task = tasks.next(below: taskCount) {
            let head = task % shape.headCount, block = task / shape.headCount
            attendBlock(queries: queries, keys: keys, values: values, shape: shape, head: head, queryRange: blocks[block],
                        ranges: ranges, uniform: uniform, output: output, scores: scores + worker * scoreCount)
        }
    }
}

/// The same blocks on AMX tiles: queries rounded to bf16 once, each key/value head's keys and
/// values packed into tiles once (not per block: packing costs more than a block's products).
private func attendOnTiles(queries: UnsafePointer<Float>, queryCount: Int, keys: UnsafePointer<Float>,
                           values: UnsafePointer<Float>, keyCount: Int, shape: AttentionShape, blocks: [Range<Int>],
                           ranges: UnsafePointer<Range<Int>>, uniform: UnsafePointer<Bool>, output: UnsafeMutablePointer<Float>,
                           scoreCount: Int, workspace: Workspace) {
    let d = shape.headDimension, width = shape.queryWidth
    let packedCount = blt_amx_packed_keys_count(keyCount, d)
    // Each query's key range and uniform flag as C arrays, for the blocks to take slices of.
    let from = workspace.buffer(.tileFrom, queryCount, of: Int.self), to = workspace.buffer(.tileTo, queryCount, of: Int.self)
    let flags = workspace.buffer(.tileFlags, queryCount, of: UInt8.self)
    let scratch = workspace.scratch
    for i in 0..<queryCount {
        (from[i], to[i], flags[i]) = (ranges[i].lowerBound, ranges[i].upperBound, uniform[i] ? 1 : 0)
    }
    // 32 zero rows past the last query: the tiles read queries 32 rows at a time.
    scratch.withHalves(count: (queryCount + 32) * width) { q in
        blt_round_to_bf16(queries, q, queryCount * width)
        (q + queryCount * width).update(repeating: 0, count: 32 * width)
        scratch.withHalves(count: max(1, 2 * shape.keyValueHeadCount * packedCount)) { packed in
            parallelFor(2 * shape.keyValueHeadCount) { task in
                let head = task / 2, destination = packed + task * packedCount
                let status = task % 2 == 0
                    ? blt_amx_pack_keys(keys + head * d, shape.keyWidth, keyCount, d, destination)
                    : blt_amx_pack_values(values + head * d, shape.keyWidth, keyCount, d, destination)
                precondition(status == 0, "the amx path is active and d is a multiple of 32")
            }
            parallelFor(shape.headCount * blocks.count) { task in
                let head = task % shape.headCount, block = blocks[task / shape.headCount], first = block.lowerBound
                let keyValueHead = head / (shape.headCount / shape.keyValueHeadCount)
                let status = blt_amx_attend(q + first * width + head * d, width, block.count, d,
                                            packed + 2 * keyValueHead * packedCount,
                                            packed + (2 * keyValueHead + 1) * packedCount,
                                            from + first, to + first, flags + first,
                                            1 / Float(d).squareRoot(), output + first * width + head * d, width)
                if status != 0 {   // no memory for the block's scores: the fp32 block
                    scratch.with(count: scoreCount) { scores in
                        attendBlock(queries: queries, keys: keys, values: values, shape: shape, head: head, queryRange: block,
                                    ranges: ranges, uniform: uniform, output: output, scores: scores)
                    }
                }
            }
        }
    }
}

private func attendBlock(queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                         shape: AttentionShape, head: Int, queryRange: Range<Int>, ranges: UnsafePointer<Range<Int>>,
                         uniform: UnsafePointer<Bool>, output: UnsafeMutablePointer<Float>, scores w: UnsafeMutablePointer<Float>) {
    let d = shape.headDimension, kvHead = head / (shape.headCount / shape.keyValueHeadCount)
    guard let visible = visibleKeys(of: queryRange, ranges: ranges) else {
        for i in queryRange { (output + i * shape.queryWidth + head * d).update(repeating: 0, count: d) }
        return
    }
    let lower = visible.lowerBound, width = visible.count, rows = queryRange.count
    // Scores, then weights, of the block in `w`: every element is written before it is read.
    let q = queries + queryRange.lowerBound * shape.queryWidth + head * d
    let k = keys + lower * shape.keyWidth + kvHead * d
    MatrixKernels.activationProduct(m: rows, n: width, k: d, alpha: 1 / Float(d).squareRoot(), a: q, lda: shape.queryWidth,
                                    b: k, ldb: shape.keyWidth, transposeB: true, c: w, ldc: width)
    for (row, i) in queryRange.enumerated() {
        let visible = ranges[i]
        let from = max(0, visible.lowerBound - lower), to = max(from, visible.upperBound - lower)
        blt_softmax_row(w + row * width, width, from, to, uniform[i] ? 1 : 0)
    }
    let v = values + lower * shape.keyWidth + kvHead * d
    let o = output + queryRange.lowerBound * shape.queryWidth + head * d
    MatrixKernels.activationProduct(m: rows, n: d, k: width, alpha: 1, a: w, lda: width,
                                    b: v, ldb: shape.keyWidth, transposeB: false, c: o, ldc: shape.queryWidth)
}

/// The single query's head `head`, with `range.count` floats of `scores` of its own.
private func attendOne(queries: UnsafePointer<Float>, stored: KeyValueRows, shape: AttentionShape, head: Int,
                       range: Range<Int>, uniform: Bool, scores: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
    let d = shape.headDimension, kvHead = head / (shape.headCount / shape.keyValueHeadCount)
    let first = (range.lowerBound * shape.keyWidth + kvHead * d) * stored.dtype.byteSize
    blt_attend_one(stored.dtype.kernelDType, queries + head * d, stored.keys + first, stored.values + first, shape.keyWidth, d,
                   range.count, uniform ? 1 : 0, 1 / Float(d).squareRoot(), scores, output + head * d)
}

/// The keys any query of the block sees (nil when none sees any).
private func visibleKeys(of queryRange: Range<Int>, ranges: UnsafePointer<Range<Int>>) -> Range<Int>? {
    var lower = Int.max, upper = Int.min
    for i in queryRange where !ranges[i].isEmpty {
        lower = min(lower, ranges[i].lowerBound); upper = max(upper, ranges[i].upperBound)
    }
    return lower < upper ? lower ..< upper : nil
}

/// Hands out 0, 1, 2, … to the workers of one attention call.
private final class TaskCounter: @unchecked Sendable {   // `value` is guarded by `lock`
    private let lock = NSLock()
    private var value = 0

    func next(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

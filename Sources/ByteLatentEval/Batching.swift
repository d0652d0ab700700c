import ByteLatent
import Foundation

// The packed passes of an evaluation: the one run loop (`drive`) that both `Evaluator.run` (batches
// prepared on a Dispatch queue, handed over through `BatchQueue`) and `Evaluator.score` (batches
// planned on the caller's thread) go through, one packed forward pass per batch.
extension Evaluator {
    // MARK: Packed passes

    /// The one run loop: every batch `next` gives, in order, through `process` (one packed forward
    /// pass), then `passed` with it (progress). `next` returns nil after the last batch.
    func drive(next: () throws -> Batch?, finished: (DocumentWork) throws -> Void,
               other: (Step) throws -> Void = { _ in }, passed: (Batch) -> Void = { _ in }) throws {
        while var batch = try next() {
            try process(batch, finished: finished, other: other)
            passed(batch)
            if let embeddings = batch.embeddings {
                batch.embeddings = nil
                spareEmbeddings.give(embeddings)
            }
        }
    }

    /// Runs the windows of `batch` in one packed forward pass, records each window's target NLLs
    /// and patches in its document, then walks the steps in input order: `finished` for every
    /// document whose last window this was, `other` for the rest.
    func process(_ batch: Batch, finished: (DocumentWork) throws -> Void, other: (Step) throws -> Void = { _ in }) throws {
        let windows = batch.windows
        if !windows.isEmpty {
            let sequences = batch.sequences
            let patching = try inference.patching(batch: sequences, scheme: self.patching, entropies: entropyCache?.entropies(of: batch, in: inference, entropyContext: self.patching.entropyContext))
            work += WorkCount.packedPass(model.config, weights: weightBytes,
                                         sequences: zip(sequences, patching).map { (ids: $0.count, patches: $1.lengths.count) },
                                         entropyModel: self.patching.rule.needsEntropies)
            let byteRanges = try inference.packedLogits(sequences, patchLengths: patching.map(\.lengths), embeddings: batch.embeddings,
                                                        into: &passLogits)
            let width = model.vocabularySize
            for (s, (work, w)) in windows.enumerated() {
                let rows = byteRanges[s]
                work.record(window: w, logits: passLogits[rows.lowerBound * width ..< rows.upperBound * width], ids: sequences[s],
                            entropies: patching[s].entropies, patchLengths: patching[s].lengths, width: width)
            }
        }
        for step in batch.steps {
            switch step {
            case .window(let work, let w) where w == work.plan.count - 1: try finished(work)
            case .unscored(let work): try finished(work)
            default: try other(step)
            }
        }
    }

    /// The score of a document whose windows have all been recorded.
    func finish(_ work: DocumentWork) throws -> DocumentScore {
        let values = work.values
        var nll = 0.0
        for v in values { nll += v }
        guard nll.isFinite, abs(nll) < ExactSum.limit else { throw EvalError.nonFiniteLoss(document: work.name) }
        var chunks: [(bits: Double, targets: Int)] = []
        var start = 0
        while start < values.count {
            let end = min(values.count, start + options.chunkTargets)
            chunks.append((bits: values[start..<end].reduce(0, +) / M_LN2, targets: end - start))
            start = end
        }
        return DocumentScore(nllNats: nll, targets: values.count, bytes: work.byteCount, patches: work.patches,
                             windows: work.plan.count, chunks: chunks)
    }
}

/// A bounded hand-over of batches from the reading queue to the thread running the model.
final class BatchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Result<Batch?, Error>] = []
    private var cancelled = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Waits for room; false once the consumer has cancelled (the producer then stops).
    @discardableResult
    func put(_ item: Result<Batch?, Error>) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity, !cancelled { condition.wait() }
        guard !cancelled else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    func take() -> Result<Batch?, Error> {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty { condition.wait() }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Seconds since it was made, from the monotonic clock.
struct Stopwatch {
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    init() { started = clock.now }
    func seconds() -> Double {
        let d = clock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

/// Embedding buffers handed back after their pass, for the reader thread to fill for a later one:
/// without them every pass maps fresh pages for its embeddings (glibc returns large blocks to the
/// kernel when freed) and pays their page faults again.
final class RecycledBuffers: @unchecked Sendable {   // every access holds `lock`
    private let lock = NSLock()
    private var spare: [[Float]] = []
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func take() -> [Float] {
        lock.lock(); defer { lock.unlock() }
        return spare.popLast() ?? []
    }

    func give(_ buffer: [Float]) {
        lock.lock(); defer { lock.unlock() }
        if spare.count < limit { spare.append(buffer) }
    }
}

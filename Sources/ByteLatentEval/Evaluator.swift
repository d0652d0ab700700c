import ByteLatent
import Foundation

/// Options of an evaluation run.
public struct EvalOptions: Sendable {
    /// Ids per forward pass (BOS included); nil: `Evaluator.defaultWindow(for:)`.
    public var window: Int?
    /// Minimum history (document ids) of each target scored by a window after the first; 0 gives
    /// non-overlapping windows. See `WindowPlan`.
    public var context: Int
    /// How to patch; nil: the model's `patching` (config.json's rule unless `BLTModel.with(patching:)`).
    public var patching: PatchingScheme?
    /// Entropy threshold for patching (nats), overriding the scheme's; nil: the scheme's.
    public var threshold: Float?
    /// Append the EOS id (and score it as a target).
    public var addEOS: Bool
    /// Targets per chunk for the standard error of a single document.
    public var chunkTargets: Int
    /// Keep one `DocumentResult` per document.
    public var keepPerDocument: Bool
    /// Ids per packed forward pass: consecutive windows (of one or many documents) are run together
    /// up to this many ids in all, each exactly as if alone. A longer window runs by itself;
    /// 0 or 1 gives one forward pass per window.
    public var batchBytes: Int

    public init(window: Int? = nil, context: Int = 0, patching: PatchingScheme? = nil, threshold: Float? = nil, addEOS: Bool = true,
                chunkTargets: Int = 1024, keepPerDocument: Bool = false, batchBytes: Int = Evaluator.defaultBatchBytes) {
        self.window = window
        self.patching = patching
        self.context = context
        self.threshold = threshold
        self.addEOS = addEOS
        self.chunkTargets = chunkTargets
        self.keepPerDocument = keepPerDocument
        self.batchBytes = batchBytes
    }
}

/// Progress of a run, reported after every forward pass.
public struct EvalProgress: Sendable {
    /// Input bytes (files as read, JSONL lines included) passed so far, and in all (nil when unknown).
    public var inputBytesDone: Int
    public var inputBytesTotal: Int?
    public var documents: Int
    public var bytesScored: Int
    public var seconds: Double
}

public enum EvalError: Error, CustomStringConvertible, Equatable {
    case badChunkSize(Int)
    case badBatchSize(Int)
    case nonFiniteLoss(document: String)

    public var description: String {
        switch self {
        case .badChunkSize(let n): return "the standard-error chunk size must be at least 1 target (got \(n))"
        case .badBatchSize(let n): return "the batch size must be 0 or more ids per forward pass (got \(n)); 0 runs one window per pass"
        case .nonFiniteLoss(let document):
            return "document '\(document)' got a non-finite or absurdly large loss: the model produced NaN or infinite logits; check the weights (e.g. with the parity tests)"
        }
    }
}

/// The score of one document: its NLL and what was needed to compute it.
public struct DocumentScore: Sendable, Equatable {
    /// Σ NLL over every target (nats), summed target by target in document order.
    public var nllNats: Double
    public var targets: Int
    public var bytes: Int
    public var patches: Int
    public var windows: Int
    /// (bits, targets) of each chunk of `chunkTargets` consecutive targets.
    public var chunks: [(bits: Double, targets: Int)]
    public var bitsPerByte: Double { targets == 0 ? 0 : nllNats / M_LN2 / Double(targets) }

    public static func == (a: DocumentScore, b: DocumentScore) -> Bool {
        a.nllNats == b.nllNats && a.targets == b.targets && a.bytes == b.bytes && a.patches == b.patches
            && a.windows == b.windows && a.chunks.map(\.bits) == b.chunks.map(\.bits) && a.chunks.map(\.targets) == b.chunks.map(\.targets)
    }
}

/// Scores documents with a BLT model: bits per byte over BOS + bytes + EOS, in windows when a
/// document is longer than one forward pass, with sums that merge exactly across shards.
///
/// Consecutive windows (of one or many documents) are packed into one forward pass of up to
/// `options.batchBytes` ids; inside a pass no attention, n-gram hash, patch or position crosses from
/// one window into another, so every document scores what it scores alone. While the model runs
/// one packed pass, the next one is read, tokenized and embedded (hash n-grams) on a Dispatch queue.
public final class Evaluator {
    public let model: BLTModel
    /// Where the passes run (activations reused from pass to pass): one evaluator runs on one thread at a time.
    public let inference: InferenceContext
    public let options: EvalOptions
    /// The resolved window (ids per forward pass, BOS included).
    public let window: Int
    /// How every window is patched.
    public let patching: PatchingScheme
    /// Entropies kept from another run over the same passes (a sweep); nil: computed per pass.
    var entropyCache: EntropyCache?
    /// FLOPs of the forward passes of the last `run` (`ComputeCount.forward` of every window).
    public private(set) var compute = ComputeCount()
    public var threshold: Float { patching.threshold }

    /// CPU-friendly cap on the default window.
    public static let defaultWindowCap = 8192
    /// Default ids per packed forward pass (Docs/benchmarks.md: packing short documents).
    public static let defaultBatchBytes = 8192

    /// min(8192, the entropy model's, encoder's and decoder's max positions).
    public static func defaultWindow(for config: BLTConfig) -> Int {
        min(defaultWindowCap, config.patcher.maxPositions, config.encoder.maxPositions, config.decoder.maxPositions)
    }

    public init(model: BLTModel, options: EvalOptions = EvalOptions()) throws {
        self.model = model
        inference = InferenceContext(model: model)
        self.options = options
        window = options.window ?? Self.defaultWindow(for: model.config)
        guard options.chunkTargets >= 1 else { throw EvalError.badChunkSize(options.chunkTargets) }
        guard options.batchBytes >= 0 else { throw EvalError.badBatchSize(options.batchBytes) }
        let positions = min(model.config.patcher.maxPositions, model.config.encoder.maxPositions, model.config.decoder.maxPositions)
        if window > positions {
            throw BLTError.invalidInput("--window \(window) exceeds the model's \(positions) positions (max_position_embeddings); use --window \(positions) or less")
        }
        var scheme = options.patching ?? model.patching
        if let threshold = options.threshold { scheme.threshold = threshold }
        var checked = try PatchingScheme(rule: scheme.rule, threshold: scheme.threshold, maxPatchLength: scheme.maxPatchLength)
        checked.entropyContext = scheme.entropyContext
        patching = checked
        _ = try WindowPlan.plan(count: 2, window: window, context: options.context)   // validates window and context
    }

    /// Scores one document (BOS + bytes [+ EOS]). An empty document has no targets when EOS is off.
    public func score(bytes: [UInt8], name: String = "document") throws -> DocumentScore {
        try score(documents: [bytes], names: [name])[0]
    }

    /// Scores many documents, packing their windows into forward passes of up to
    /// `options.batchBytes` ids; one result per document, in order, each equal to what `score(bytes:)`
    /// gives for that document alone (up to fp32 summation order). `names` label errors.
    public func score(documents: [[UInt8]], names: [String]? = nil) throws -> [DocumentScore] {
        try scored(documents, names: names, keepDetails: false).map(\.score)
    }

    /// Runs `documents` through the pass planner and the packed passes, as `run` does, in the
    /// caller's thread; empty documents are scored (their EOS), not skipped.
    func scored(_ documents: [[UInt8]], names: [String]?, keepDetails: Bool) throws -> [(work: DocumentWork, score: DocumentScore)] {
        var planner = PassPlanner(options: options, window: window, emptyDocuments: .scored, keepDetails: keepDetails)
        var results: [(work: DocumentWork, score: DocumentScore)] = []
        func run(_ batch: Batch) throws {
            try process(batch) { work in results.append((work, try self.finish(work))) }
        }
        for (i, bytes) in documents.enumerated() {
            let document = Document(ordinal: i, name: names?[i] ?? "document \(i + 1)", bytes: bytes, inputRange: 0..<0)
            for batch in try planner.add(document) { try run(batch) }
        }
        if let last = planner.finish() { try run(last) }
        return results
    }

    /// Adds a scored document to `sums`.
    public static func accumulate(_ score: DocumentScore, into sums: inout EvalSums, name: String) throws {
        guard let nll = ExactSum(score.nllNats), sums.byDocument.add(bits: score.nllNats / M_LN2, targets: score.targets) else {
            throw EvalError.nonFiniteLoss(document: name)
        }
        for chunk in score.chunks where !sums.byChunk.add(bits: chunk.bits, targets: chunk.targets) {
            throw EvalError.nonFiniteLoss(document: name)
        }
        sums.documents += 1
        sums.nllNats += nll
        sums.targets += score.targets
        sums.bytes += score.bytes
        sums.patches += score.patches
        sums.windows += score.windows
    }

    /// The settings recorded with a run over `inputs`.
    public func settings(reader: DocumentReader) -> EvalSettings {
        EvalSettings(model: URL(fileURLWithPath: model.directory).standardized.lastPathComponent, threshold: Double(threshold),
                     window: window, context: options.context, addEOS: options.addEOS, field: reader.field,
                     inputs: reader.inputs.map { URL(fileURLWithPath: $0.path).lastPathComponent }, chunkTargets: options.chunkTargets,
                     modelFingerprint: ModelFingerprint.of(directory: model.directory), batchBytes: options.batchBytes,
                     patching: patching.identifier)
    }

    /// Scores the documents of `reader` that `shard` owns (every one by default; see `Shard`: shards
    /// split the packed passes). Empty documents (no targets) are skipped and
    /// counted; so are malformed JSONL lines when the reader skips them. `progress` is called after
    /// every forward pass; `badLine` for each skipped line. Both are called on the caller's thread,
    /// in input order. With `byteScores`, each document is also handed over with its per-target
    /// details as it finishes; they come from the same passes, so no figure of the run changes.
    public func run(_ reader: DocumentReader, shard: Shard = .whole, progress: ((EvalProgress) -> Void)? = nil,
                    badLine: ((BadLine) -> Void)? = nil,
                    byteScores perDocument: ((Document, ByteScores) throws -> Void)? = nil) throws -> EvalSummary {
        try reader.checkInputs()
        let total = reader.totalInputBytes()
        let elapsed = Stopwatch().seconds
        compute = ComputeCount()
        var sums = EvalSums()
        var results: [DocumentResult] = []

        // Reading, tokenizing, window planning and the hash n-gram embeddings of the next packed
        // pass run on this queue while the model works on the current one; one pass waits ready.
        let batches = BatchQueue(capacity: 1)
        let plan = PassPlanner(options: options, window: window, emptyDocuments: .skipped, keepDetails: perDocument != nil)
        let model = self.model
        DispatchQueue.global(qos: .userInitiated).async {
            var planner = plan
            func send(_ closed: [Batch]) throws {
                for var batch in closed where shard.owns(batch.group) {
                    batch.embeddings = model.packedEmbeddings(batch.sequences)
                    guard batches.put(.success(batch)) else { throw CancellationError() }
                }
            }
            do {
                try reader.forEach { event in
                    switch event {
                    case .badLine(let line): try send(planner.add(line))
                    case .document(let document): try send(planner.add(document))
                    }
                }
                try send(planner.finish().map { [$0] } ?? [])
                batches.put(.success(nil))
            } catch is CancellationError {
            } catch {
                // Score what came before the error first, as a one-at-a-time run would.
                do { try send(planner.finish().map { [$0] } ?? []) } catch {}
                batches.put(.failure(error))
            }
        }
        // On an error here the reader stops at its next hand-over (not waited for: it may be
        // blocked on standard input).
        defer { batches.cancel() }
        var done = 0

        while let batch = try batches.take().get() {
            try process(batch) { work in
                let score = try self.finish(work)
                try Self.accumulate(score, into: &sums, name: work.name)
                try perDocument?(work.document, Self.byteScores(of: work, score: score))
                if options.keepPerDocument {
                    results.append(DocumentResult(index: work.ordinal, name: work.name, bytes: score.bytes, targets: score.targets,
                                                  patches: score.patches, windows: score.windows, nllNats: score.nllNats))
                }
            } other: { step in
                switch step {
                case .badLine(let line):
                    sums.skippedBadLines += 1
                    badLine?(line)
                case .empty:
                    sums.skippedEmpty += 1
                case .window, .unscored:
                    break
                }
            }
            // Input bytes passed: up to the last step of the pass (in proportion within a long document).
            switch batch.steps.last {
            case .window(let work, let w)?:
                let range = work.inputRange, end = work.plan[w].scored.upperBound
                done = range.lowerBound + Int(Double(range.count) * Double(end) / Double(work.ids.count))
            case .empty(let range)?: done = range.upperBound
            case .unscored(let work)?: done = work.inputRange.upperBound
            case .badLine, nil: break
            }
            progress?(EvalProgress(inputBytesDone: done, inputBytesTotal: total, documents: sums.documents,
                                   bytesScored: sums.bytes, seconds: elapsed()))
        }
        sums.seconds = elapsed()
        return EvalSummary(settings: settings(reader: reader), shard: shard, sums: sums,
                           perDocument: options.keepPerDocument ? results : nil)
    }

    // MARK: Packed passes

    /// Runs the windows of `batch` in one packed forward pass, records each window's target NLLs
    /// and patches in its document, then walks the steps in input order: `finished` for every
    /// document whose last window this was, `other` for the rest.
    func process(_ batch: Batch, finished: (DocumentWork) throws -> Void, other: (Step) throws -> Void = { _ in }) throws {
        let windows = batch.windows
        if !windows.isEmpty {
            let sequences = batch.sequences
            let patching = try inference.patching(batch: sequences, scheme: self.patching, entropies: entropyCache?.entropies(of: batch, in: inference, entropyContext: self.patching.entropyContext))
            for (ids, patched) in zip(sequences, patching) {
                compute += ComputeCount.forward(model.config, ids: ids.count, patches: patched.lengths.count,
                                                entropyModel: self.patching.rule.needsEntropies)
            }
            let pass = try inference.packedLogits(sequences, patchLengths: patching.map(\.lengths), embeddings: batch.embeddings)
            let width = model.vocabularySize
            for (s, (work, w)) in windows.enumerated() {
                let rows = pass.byteRanges[s]
                work.record(window: w, logits: pass.logits[rows.lowerBound * width ..< rows.upperBound * width], ids: sequences[s],
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

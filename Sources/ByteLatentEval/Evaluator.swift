import ByteLatent
import Foundation

/// Options of an evaluation run.
public struct EvalOptions: Sendable {
    /// Ids per forward pass (BOS included); nil: `Evaluator.defaultWindow(for:)`.
    public var window: Int?
    /// Minimum history (document ids) of each target scored by a window after the first; 0 gives
    /// non-overlapping windows. See `WindowPlan`.
    public var context: Int
    /// Entropy threshold for patching (nats); nil: the model's `patching_threshold`.
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

    public init(window: Int? = nil, context: Int = 0, threshold: Float? = nil, addEOS: Bool = true,
                chunkTargets: Int = 1024, keepPerDocument: Bool = false, batchBytes: Int = Evaluator.defaultBatchBytes) {
        self.window = window
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
    public let options: EvalOptions
    /// The resolved window (ids per forward pass, BOS included).
    public let window: Int
    public var threshold: Float { options.threshold ?? model.config.patchingThreshold }

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
        self.options = options
        window = options.window ?? Self.defaultWindow(for: model.config)
        guard options.chunkTargets >= 1 else { throw EvalError.badChunkSize(options.chunkTargets) }
        guard options.batchBytes >= 0 else { throw EvalError.badBatchSize(options.batchBytes) }
        let positions = min(model.config.patcher.maxPositions, model.config.encoder.maxPositions, model.config.decoder.maxPositions)
        if window > positions {
            throw BLTError.invalidInput("--window \(window) exceeds the model's \(positions) positions (max_position_embeddings); use --window \(positions) or less")
        }
        if let threshold = options.threshold, !threshold.isFinite {
            throw BLTError.invalidInput("the entropy threshold must be a finite number, not \(threshold)")
        }
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
        let works = try documents.enumerated().map { i, bytes in
            try DocumentWork(ordinal: i, name: names?[i] ?? "document \(i + 1)", byteCount: bytes.count, inputRange: 0..<0,
                             ids: Tokenizer.encode(bytes, addEOS: options.addEOS), window: window, context: options.context)
        }
        var batcher = Batcher(budget: options.batchBytes)
        var results: [DocumentScore] = []
        func run(_ batch: Batch) throws {
            try process(batch) { work in results.append(try self.finish(work)) }
        }
        for work in works {
            // A document with no target (empty, no EOS) keeps its place in the order.
            let steps: [Step] = work.plan.isEmpty ? [.unscored(work)] : work.plan.indices.map { .window(work, $0) }
            for step in steps { if let full = batcher.add(step) { try run(full) } }
        }
        if let last = batcher.flush() { try run(last) }
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
                     modelFingerprint: ModelFingerprint.of(directory: model.directory), batchBytes: options.batchBytes)
    }

    /// Scores the documents of `reader` that `shard` owns (every one by default; see `Shard`: shards
    /// split the packed passes). Empty documents (no targets) are skipped and
    /// counted; so are malformed JSONL lines when the reader skips them. `progress` is called after
    /// every forward pass; `badLine` for each skipped line. Both are called on the caller's thread,
    /// in input order. With `byteScores`, each document is scored alone by
    /// `byteScores(bytes:name:)` and handed to it with its per-target details (not packed).
    public func run(_ reader: DocumentReader, shard: Shard = .whole, progress: ((EvalProgress) -> Void)? = nil,
                    badLine: ((BadLine) -> Void)? = nil,
                    byteScores perDocument: ((Document, ByteScores) throws -> Void)? = nil) throws -> EvalSummary {
        if let perDocument { return try runOneByOne(reader, shard: shard, progress: progress, badLine: badLine, byteScores: perDocument) }
        try reader.checkInputs()
        let total = reader.totalInputBytes()
        let elapsed = Stopwatch().seconds
        var sums = EvalSums()
        var results: [DocumentResult] = []

        // Reading, tokenizing, window planning and the hash n-gram embeddings of the next packed
        // pass run on this queue while the model works on the current one; one pass waits ready.
        let batches = BatchQueue(capacity: 1)
        let (addEOS, window, context, budget) = (options.addEOS, self.window, options.context, options.batchBytes)
        let model = self.model
        DispatchQueue.global(qos: .userInitiated).async {
            var batcher = Batcher(budget: budget)
            func send(_ batch: Batch?) throws {
                guard var batch, shard.owns(batch.group) else { return }
                batch.embeddings = model.packedEmbeddings(batch.sequences)
                guard batches.put(.success(batch)) else { throw CancellationError() }
            }
            do {
                try reader.forEach { event in
                    switch event {
                    case .badLine(let line):
                        try send(batcher.add(.badLine(line)))
                    case .document(let document):
                        let ids = Tokenizer.encode(document.bytes, addEOS: addEOS)
                        guard ids.count >= 2, !document.bytes.isEmpty else {
                            try send(batcher.add(.empty(document.inputRange)))
                            return
                        }
                        let work = try DocumentWork(ordinal: document.ordinal, name: document.name, byteCount: document.bytes.count,
                                                    inputRange: document.inputRange, ids: ids, window: window, context: context)
                        for w in work.plan.indices { try send(batcher.add(.window(work, w))) }
                    }
                }
                try send(batcher.flush())
                batches.put(.success(nil))
            } catch is CancellationError {
            } catch {
                // Score what came before the error first, as a one-at-a-time run would.
                do { try send(batcher.flush()) } catch {}
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

    /// `run` with per-byte details: one document at a time, each scored by `byteScores`.
    private func runOneByOne(_ reader: DocumentReader, shard: Shard, progress: ((EvalProgress) -> Void)?, badLine: ((BadLine) -> Void)?,
                             byteScores perDocument: (Document, ByteScores) throws -> Void) throws -> EvalSummary {
        try reader.checkInputs()
        let total = reader.totalInputBytes()
        let elapsed = Stopwatch().seconds
        var sums = EvalSums()
        var results: [DocumentResult] = []
        // Shards own the same documents as in a packed run with these options: the batches are
        // planned (not run) to learn each document's group.
        var planner = Batcher(budget: options.batchBytes)
        try reader.forEach { event in
            switch event {
            case .badLine(let line):
                _ = planner.add(.badLine(line))
                guard shard.owns(planner.group) else { return }
                sums.skippedBadLines += 1
                badLine?(line)
            case .document(let document):
                let ids = Tokenizer.encode(document.bytes, addEOS: options.addEOS)
                guard ids.count >= 2, !document.bytes.isEmpty else {
                    _ = planner.add(.empty(document.inputRange))
                    guard shard.owns(planner.group) else { return }
                    sums.skippedEmpty += 1
                    progress?(EvalProgress(inputBytesDone: document.inputRange.upperBound, inputBytesTotal: total,
                                           documents: sums.documents, bytesScored: sums.bytes, seconds: elapsed()))
                    return
                }
                let work = try DocumentWork(ordinal: document.ordinal, name: document.name, byteCount: document.bytes.count,
                                            inputRange: document.inputRange, ids: ids, window: self.window, context: options.context)
                _ = planner.add(.window(work, 0))
                let group = planner.group
                for w in work.plan.indices.dropFirst() { _ = planner.add(.window(work, w)) }
                guard shard.owns(group) else { return }
                let range = document.inputRange
                let report = { (scoredEnd: Int) in
                    let done = range.lowerBound + Int(Double(range.count) * Double(scoredEnd) / Double(ids.count))
                    progress?(EvalProgress(inputBytesDone: done, inputBytesTotal: total, documents: sums.documents,
                                           bytesScored: sums.bytes + min(document.bytes.count, scoredEnd), seconds: elapsed()))
                }
                let scores = try self.byteScores(ids: ids, bytes: document.bytes.count, name: document.name, progress: report)
                try perDocument(document, scores)
                let score = scores.score
                try Self.accumulate(score, into: &sums, name: document.name)
                if options.keepPerDocument {
                    results.append(DocumentResult(index: document.ordinal, name: document.name, bytes: score.bytes, targets: score.targets,
                                                  patches: score.patches, windows: score.windows, nllNats: score.nllNats))
                }
            }
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
            let lengths = try model.patchLengths(batch: sequences, threshold: options.threshold)
            let pass = try model.packedLogits(sequences, patchLengths: lengths, embeddings: batch.embeddings)
            let width = model.vocabularySize
            for (s, (work, w)) in windows.enumerated() {
                let rows = pass.byteRanges[s]
                let logits = Array(pass.logits[rows.lowerBound * width ..< rows.upperBound * width])
                work.record(window: w, logits: logits, ids: sequences[s], patchLengths: lengths[s], width: width)
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

/// A document on its way through the evaluator: its ids, its windows, and what the windows scored
/// so far (only the thread running the model records into it).
final class DocumentWork: @unchecked Sendable {
    let ordinal: Int
    let name: String
    let byteCount: Int
    let inputRange: Range<Int>
    let ids: [Int32]
    let plan: [EvalWindow]
    /// Target NLLs in document order.
    private(set) var values: [Double] = []
    /// Patches starting at a scored id (the BOS patch never counts).
    private(set) var patches = 0

    init(ordinal: Int, name: String, byteCount: Int, inputRange: Range<Int>, ids: [Int32], window: Int, context: Int) throws {
        self.ordinal = ordinal
        self.name = name
        self.byteCount = byteCount
        self.inputRange = inputRange
        self.ids = ids
        plan = try WindowPlan.plan(count: ids.count, window: window, context: context)
        values.reserveCapacity(max(0, ids.count - 1))
    }

    func windowIDs(_ w: Int) -> [Int32] { plan[w].ids(from: ids) }

    /// Records window `w` (windows are recorded in order) from its own logits and patch lengths.
    func record(window w: Int, logits: [Float], ids windowIDs: [Int32], patchLengths: [Int], width: Int) {
        let window = plan[w]
        precondition(values.count == window.scored.lowerBound - 1, "windows are recorded in order")
        let first = window.position(ofDocumentID: window.scored.lowerBound)
        values += Scoring.targetNLLs(logits: logits, ids: windowIDs, from: first - 1, width: width)
        // Patches that start at a scored id (window position p holds document id p + shift).
        var position = 0
        let shift = window.input.lowerBound - (window.prependsBOS ? 1 : 0)
        for length in patchLengths {
            if length > 0, position >= 1, window.scored.contains(position + shift) { patches += 1 }
            position += length
        }
    }
}

/// One item of the evaluation stream, in input order.
enum Step {
    /// Window `w` of a document.
    case window(DocumentWork, Int)
    /// A document with no window (nothing to score), reported in its place.
    case unscored(DocumentWork)
    /// An empty document (skipped and counted), with its place in the input.
    case empty(Range<Int>)
    case badLine(BadLine)
}

/// Steps whose windows run in one packed forward pass, with their ids and (when computed ahead)
/// their embeddings.
struct Batch: @unchecked Sendable {
    var steps: [Step] = []
    var sequences: [[Int32]] = []
    var embeddings: [Float]?
    var idCount = 0
    /// See `Batcher`: the unit of work that shards split.
    var group = 0

    var windows: [(DocumentWork, Int)] {
        steps.compactMap { if case .window(let work, let w) = $0 { return (work, w) } else { return nil } }
    }
}

/// Gathers steps into batches of at most `budget` window ids (a longer window forms a batch alone).
///
/// Batches are numbered into groups: a new group starts with every batch except one that continues
/// a document from the batch before. Shards own whole groups (`Shard.owns(group)`), so a sharded
/// run computes exactly the passes a whole run computes and merges to its sums bit for bit.
struct Batcher {
    let budget: Int
    var current = Batch()

    init(budget: Int) { self.budget = budget }

    /// The group of the batch being filled (and of every step added to it).
    var group: Int { current.group }

    /// Adds `step`; returns the batch it closed, if any.
    mutating func add(_ step: Step) -> Batch? {
        var closed: Batch?
        if case .window(let work, let w) = step {
            let ids = work.windowIDs(w)
            if !current.sequences.isEmpty, current.idCount + ids.count > budget {
                closed = current
                current = Batch()
                current.group = w > 0 ? closed!.group : closed!.group + 1
            }
            current.sequences.append(ids)
            current.idCount += ids.count
        }
        current.steps.append(step)
        return closed
    }

    /// The last, partly filled batch (the next batch starts a new group).
    mutating func flush() -> Batch? {
        let last = current
        current = Batch()
        current.group = last.group + (last.steps.isEmpty ? 0 : 1)
        return last.steps.isEmpty ? nil : last
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

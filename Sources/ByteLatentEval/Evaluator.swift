import ByteLatent
import Foundation

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
    /// One pass waits ready, one runs and one is being filled.
    let spareEmbeddings = RecycledBuffers(limit: 3)
    /// Every pass's logits, in one array whose capacity is kept from pass to pass.
    var passLogits: [Float] = []
    /// FLOPs and weight bytes read of the packed forward passes of the last `run` or `score`
    /// (`WorkCount.packedPass` of every pass).
    public internal(set) var work = WorkCount()
    /// FLOPs of the forward passes of the last `run` (`ComputeCount.forward` of every window).
    public var compute: ComputeCount { work.flops }
    /// Stored weight bytes of the model's parts (what each pass reads).
    public let weightBytes: WeightBytes
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
        weightBytes = WeightBytes(model: model)
        window = options.window ?? Self.defaultWindow(for: model.config)
        guard options.chunkTargets >= 1 else { throw EvalError.badChunkSize(options.chunkTargets) }
        guard options.batchBytes >= 0 else { throw EvalError.badBatchSize(options.batchBytes) }
        let positions = min(model.config.patcher.maxPositions, model.config.encoder.maxPositions, model.config.decoder.maxPositions)
        if window > positions {
            throw EvalError.windowTooLarge(window: window, positions: positions)
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
        // Batches planned here as the loop asks for them: a document at a time, then the last one.
        var pending: [Batch] = [], next = 0, planned = false
        try drive(next: {
            while pending.isEmpty && !planned {
                if next < documents.count {
                    let document = Document(ordinal: next, name: names?[next] ?? "document \(next + 1)", bytes: documents[next], inputRange: 0..<0)
                    pending = try planner.add(document)
                    next += 1
                } else {
                    pending = planner.finish().map { [$0] } ?? []
                    planned = true
                }
            }
            return pending.isEmpty ? nil : pending.removeFirst()
        }, finished: { work in results.append((work, try self.finish(work))) })
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
        work = WorkCount()
        var sums = EvalSums()
        var results: [DocumentResult] = []

        // Reading, tokenizing, window planning and the hash n-gram embeddings of the next packed
        // pass run on this queue while the model works on the current one; one pass waits ready.
        let batches = BatchQueue(capacity: 1)
        let plan = PassPlanner(options: options, window: window, emptyDocuments: .skipped, keepDetails: perDocument != nil)
        let model = self.model, spare = spareEmbeddings
        DispatchQueue.global(qos: .userInitiated).async {
            var planner = plan
            func send(_ closed: [Batch]) throws {
                for var batch in closed where shard.owns(batch.group) {
                    var embeddings = spare.take()
                    model.packedEmbeddings(batch.sequences, into: &embeddings)
                    batch.embeddings = embeddings
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

        try drive(next: { try batches.take().get() }, finished: { work in
                let score = try self.finish(work)
                try Self.accumulate(score, into: &sums, name: work.name)
                try perDocument?(work.document, Self.byteScores(of: work, score: score))
                if options.keepPerDocument {
                    results.append(DocumentResult(index: work.ordinal, name: work.name, bytes: score.bytes, targets: score.targets,
                                                  patches: score.patches, windows: score.windows, nllNats: score.nllNats))
                }
            }, other: { step in
                switch step {
                case .badLine(let line):
                    sums.skippedBadLines += 1
                    badLine?(line)
                case .empty:
                    sums.skippedEmpty += 1
                case .window, .unscored:
                    break
                }
            }, passed: { batch in
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
        })
        sums.seconds = elapsed()
        sums.flops = work.flops.total
        sums.weightBytesRead = work.weightBytesRead
        return EvalSummary(settings: settings(reader: reader), shard: shard, sums: sums,
                           perDocument: options.keepPerDocument ? results : nil)
    }
}

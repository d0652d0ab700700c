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

    public init(window: Int? = nil, context: Int = 0, threshold: Float? = nil, addEOS: Bool = true,
                chunkTargets: Int = 1024, keepPerDocument: Bool = false) {
        self.window = window
        self.context = context
        self.threshold = threshold
        self.addEOS = addEOS
        self.chunkTargets = chunkTargets
        self.keepPerDocument = keepPerDocument
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
    case nonFiniteLoss(document: String)

    public var description: String {
        switch self {
        case .badChunkSize(let n): return "the standard-error chunk size must be at least 1 target (got \(n))"
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
public final class Evaluator {
    public let model: BLTModel
    public let options: EvalOptions
    /// The resolved window (ids per forward pass, BOS included).
    public let window: Int
    public var threshold: Float { options.threshold ?? model.config.patchingThreshold }

    /// CPU-friendly cap on the default window.
    public static let defaultWindowCap = 8192

    /// min(8192, the entropy model's, encoder's and decoder's max positions).
    public static func defaultWindow(for config: BLTConfig) -> Int {
        min(defaultWindowCap, config.patcher.maxPositions, config.encoder.maxPositions, config.decoder.maxPositions)
    }

    public init(model: BLTModel, options: EvalOptions = EvalOptions()) throws {
        self.model = model
        self.options = options
        window = options.window ?? Self.defaultWindow(for: model.config)
        guard options.chunkTargets >= 1 else { throw EvalError.badChunkSize(options.chunkTargets) }
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
        let ids = Tokenizer.encode(bytes, addEOS: options.addEOS)
        return try score(ids: ids, bytes: bytes.count, name: name, progress: nil)
    }

    func score(ids: [Int32], bytes: Int, name: String, progress: ((Int) -> Void)?) throws -> DocumentScore {
        let plan = try WindowPlan.plan(count: ids.count, window: window, context: options.context)
        var nll = 0.0
        // Chunks are summed as the targets arrive (same order, same sums) rather than from a list of
        // every target's NLL, which cost 8 bytes per byte up front (400 MB for a 50 MB document).
        var chunks: [(bits: Double, targets: Int)] = []
        var chunkSum = 0.0, chunkCount = 0, targets = 0
        var patches = 0
        for w in plan {
            let windowIDs = w.ids(from: ids)
            let entropies = try model.entropies(windowIDs)
            let lengths = model.patchLengths(entropies: entropies, threshold: options.threshold)
            let logits = try model.logits(windowIDs, patchLengths: lengths)
            let first = w.position(ofDocumentID: w.scored.lowerBound)
            let scored = Scoring.targetNLLs(logits: logits, ids: windowIDs, from: first - 1, width: model.vocabularySize)
            for v in scored {
                nll += v
                chunkSum += v
                chunkCount += 1
                if chunkCount == options.chunkTargets {
                    chunks.append((bits: chunkSum / M_LN2, targets: chunkCount))
                    chunkSum = 0
                    chunkCount = 0
                }
            }
            targets += scored.count
            // Patches that start at a scored id (window position p holds document id p + lower − offset).
            var position = 0
            let shift = w.input.lowerBound - (w.prependsBOS ? 1 : 0)
            for length in lengths {
                if length > 0, position >= 1, w.scored.contains(position + shift) { patches += 1 }
                position += length
            }
            progress?(w.scored.upperBound)
        }
        guard nll.isFinite, abs(nll) < ExactSum.limit else { throw EvalError.nonFiniteLoss(document: name) }
        if chunkCount > 0 { chunks.append((bits: chunkSum / M_LN2, targets: chunkCount)) }
        return DocumentScore(nllNats: nll, targets: targets, bytes: bytes, patches: patches, windows: plan.count, chunks: chunks)
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
                     modelFingerprint: ModelFingerprint.of(directory: model.directory))
    }

    /// Scores every document of `reader`'s shard. Empty documents (no targets) are skipped and
    /// counted; so are malformed JSONL lines when the reader skips them. `progress` is called after
    /// every forward pass; `badLine` for each skipped line.
    public func run(_ reader: DocumentReader, progress: ((EvalProgress) -> Void)? = nil,
                    badLine: ((BadLine) -> Void)? = nil) throws -> EvalSummary {
        try reader.checkInputs()
        let total = reader.totalInputBytes()
        let clock = ContinuousClock()
        let started = clock.now
        func elapsed() -> Double {
            let d = clock.now - started
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        var sums = EvalSums()
        var results: [DocumentResult] = []
        try reader.forEach { event in
            switch event {
            case .badLine(let line):
                sums.skippedBadLines += 1
                badLine?(line)
            case .document(let document):
                let ids = Tokenizer.encode(document.bytes, addEOS: options.addEOS)
                guard ids.count >= 2, !document.bytes.isEmpty else {
                    sums.skippedEmpty += 1
                    progress?(EvalProgress(inputBytesDone: document.inputRange.upperBound, inputBytesTotal: total,
                                           documents: sums.documents, bytesScored: sums.bytes, seconds: elapsed()))
                    return
                }
                let range = document.inputRange
                let score = try self.score(ids: ids, bytes: document.bytes.count, name: document.name) { scoredEnd in
                    let done = range.lowerBound + Int(Double(range.count) * Double(scoredEnd) / Double(ids.count))
                    progress?(EvalProgress(inputBytesDone: done, inputBytesTotal: total, documents: sums.documents,
                                           bytesScored: sums.bytes + min(document.bytes.count, scoredEnd), seconds: elapsed()))
                }
                try Self.accumulate(score, into: &sums, name: document.name)
                if options.keepPerDocument {
                    results.append(DocumentResult(index: document.ordinal, name: document.name, bytes: score.bytes, targets: score.targets,
                                                  patches: score.patches, windows: score.windows, nllNats: score.nllNats))
                }
            }
        }
        sums.seconds = elapsed()
        return EvalSummary(settings: settings(reader: reader), shard: reader.shard, sums: sums,
                           perDocument: options.keepPerDocument ? results : nil)
    }
}

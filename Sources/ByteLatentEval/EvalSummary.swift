import ByteLatent
import Foundation

/// What one document contributed.
public struct DocumentResult: Equatable, Sendable {
    /// Position among all documents of the run (all inputs, all shards), from 0.
    public var index: Int
    public var name: String
    public var bytes: Int
    public var targets: Int
    public var patches: Int
    public var windows: Int
    public var nllNats: Double
    public var bitsPerByte: Double { targets == 0 ? 0 : nllNats / M_LN2 / Double(targets) }

    public init(index: Int, name: String, bytes: Int, targets: Int, patches: Int, windows: Int, nllNats: Double) {
        self.index = index; self.name = name; self.bytes = bytes; self.targets = targets
        self.patches = patches; self.windows = windows; self.nllNats = nllNats
    }
}

/// The settings that make two evaluations comparable; shards must agree on all of them.
public struct EvalSettings: Equatable, Sendable {
    /// The model directory's last path component (paths differ between machines).
    public var model: String
    public var threshold: Double
    public var window: Int
    public var context: Int
    public var addEOS: Bool
    public var field: String
    public var inputs: [String]
    /// Targets per chunk for the single-document standard error.
    public var chunkTargets: Int
    /// What identifies the model: a hash of its config.json and safetensors headers
    /// (`ModelFingerprint`). Nil in outputs of older versions, which are matched by `model` only.
    public var modelFingerprint: String?
    /// Ids per packed forward pass (`EvalOptions.batchBytes`): it decides which documents each
    /// shard scores, so shards must agree on it. Nil in outputs of older versions.
    public var batchBytes: Int?
    /// The patching rule and max_patch_length (`PatchingScheme.identifier`). Nil in outputs of
    /// older versions, which patched by entropy.
    public var patching: String?

    public init(model: String, threshold: Double, window: Int, context: Int, addEOS: Bool, field: String, inputs: [String], chunkTargets: Int,
                modelFingerprint: String? = nil, batchBytes: Int? = nil, patching: String? = nil) {
        self.patching = patching
        self.model = model; self.threshold = threshold; self.window = window; self.context = context
        self.addEOS = addEOS; self.field = field; self.inputs = inputs; self.chunkTargets = chunkTargets
        self.modelFingerprint = modelFingerprint; self.batchBytes = batchBytes
    }
}

/// The mergeable totals of an evaluation: counts, exact sums and moments.
public struct EvalSums: Equatable, Sendable {
    /// Documents scored (empty ones excluded).
    public var documents = 0
    /// Empty documents, skipped and counted.
    public var skippedEmpty = 0
    /// Malformed JSONL lines skipped under --skip-bad-lines.
    public var skippedBadLines = 0
    /// Document bytes scored (without BOS/EOS).
    public var bytes = 0
    /// Scored ids: bytes plus one EOS per document (unless EOS is off).
    public var targets = 0
    /// Patches starting at a scored id (the BOS patch never counts).
    public var patches = 0
    /// Forward passes.
    public var windows = 0
    public var nllNats = ExactSum()
    /// One unit per document.
    public var byDocument = RatioMoments()
    /// One unit per chunk of `chunkTargets` consecutive targets within a document.
    public var byChunk = RatioMoments()
    /// Time spent scoring (model loading excluded); for merged shards, the sum over shards.
    public var seconds = 0.0
    /// FLOPs of the run's products (`WorkCount`, `ComputeCount`); nil in outputs of older versions.
    public var flops: Double?
    /// Bytes of stored weights the run's forward passes read (`WorkCount`); nil in outputs of older versions.
    public var weightBytesRead: Double?

    public init() {}

    /// Adds the totals of `other` (another shard), every addition overflow-checked; false (and self
    /// unchanged) if one overflows.
    public mutating func mergeChecked(_ other: EvalSums) -> Bool {
        func add(_ a: Int, _ b: Int) -> Int? { let (r, o) = a.addingReportingOverflow(b); return o ? nil : r }
        guard let documents = add(documents, other.documents), let skippedEmpty = add(skippedEmpty, other.skippedEmpty),
              let skippedBadLines = add(skippedBadLines, other.skippedBadLines), let bytes = add(bytes, other.bytes),
              let targets = add(targets, other.targets), let patches = add(patches, other.patches),
              let windows = add(windows, other.windows), let nllNats = nllNats.adding(other.nllNats),
              let byDocument = byDocument.adding(other.byDocument), let byChunk = byChunk.adding(other.byChunk) else { return false }
        var r = EvalSums()
        r.documents = documents; r.skippedEmpty = skippedEmpty; r.skippedBadLines = skippedBadLines; r.bytes = bytes
        r.targets = targets; r.patches = patches; r.windows = windows; r.nllNats = nllNats
        r.byDocument = byDocument; r.byChunk = byChunk; r.seconds = seconds + other.seconds
        // Known for the merge only when every shard recorded it.
        if let a = flops, let b = other.flops { r.flops = a + b }
        if let a = weightBytesRead, let b = other.weightBytesRead { r.weightBytesRead = a + b }
        self = r
        return true
    }
}

/// The result of `blt eval`: settings, exact sums, and the figures derived from them. Encodes to the
/// JSON that `blt eval --json` prints and `blt eval-merge` reads back.
public struct EvalSummary: Equatable, Sendable {
    public static let format = "blt-eval/1"

    public var settings: EvalSettings
    /// Shard count and the shard indices this summary covers (all of 0..<count for a full run).
    public var shardCount: Int
    public var shards: [Int]
    public var sums: EvalSums
    /// Per-document results, in document order, when asked for.
    public var perDocument: [DocumentResult]?

    public init(settings: EvalSettings, shard: Shard, sums: EvalSums, perDocument: [DocumentResult]?) {
        self.settings = settings
        self.shardCount = shard.count
        self.shards = [shard.index]
        self.sums = sums
        self.perDocument = perDocument
    }

    // MARK: Derived figures

    public var nllNats: Double { sums.nllNats.value }
    public var bitsPerByte: Double { sums.targets == 0 ? .nan : nllNats / M_LN2 / Double(sums.targets) }
    /// 2^bits-per-byte = exp(nats per byte).
    public var perplexityPerByte: Double { exp2(bitsPerByte) }
    /// Over documents when there are at least two, else over chunks of the single document.
    public var standardErrorMethod: String {
        sums.documents >= 2 ? "documents" : "chunks of \(settings.chunkTargets) targets"
    }
    public var bitsPerByteStandardError: Double? {
        sums.documents >= 2 ? sums.byDocument.standardError : sums.byChunk.standardError
    }
    /// Targets per patch (the EOS counts as a byte, as in bits per byte).
    public var meanPatchBytes: Double { sums.patches == 0 ? .nan : Double(sums.targets) / Double(sums.patches) }
    public var bytesPerSecond: Double { sums.seconds > 0 ? Double(sums.bytes) / sums.seconds : 0 }
    /// Achieved FLOP/s of the products (nil when the sums do not record FLOPs).
    public var flopsPerSecond: Double? { sums.flops.map { sums.seconds > 0 ? $0 / sums.seconds : 0 } }
    /// Achieved bytes/s of stored weights read (nil when the sums do not record them).
    public var weightBytesPerSecond: Double? { sums.weightBytesRead.map { sums.seconds > 0 ? $0 / sums.seconds : 0 } }
    /// Every shard 0..<shardCount present (memory and time bounded by the shards listed, not the count).
    public var isComplete: Bool { Set(shards).count == shardCount && shards.allSatisfy { (0..<shardCount).contains($0) } }

    // MARK: Checking a shard output

    /// Largest shard count accepted (by `--shard` and in shard outputs).
    public static let maxShardCount = 1_000_000
    /// Largest count (documents, bytes, targets, …) a single output may claim: 2⁵⁰ (a petabyte).
    public static let maxCount = 1 << 50

    /// A shard output file that is not a consistent `blt eval --json` object.
    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public var source: String
        public var reason: String
        public var description: String {
            "'\(source)' is not a usable evaluation summary (the JSON of an EvalSummary): \(reason); pass the shards' summaries as they were written, unedited"
        }
    }

    /// Decodes a shard output and checks every field: ranges, counts that agree with each other,
    /// finite values. `source` names the file in errors.
    public static func load(_ data: Data, source: String) throws -> EvalSummary {
        let summary: EvalSummary
        do { summary = try decode(data) } catch let error as LoadError {
            throw LoadError(source: source, reason: error.reason)
        }
        if let reason = summary.inconsistency() { throw LoadError(source: source, reason: reason) }
        return summary
    }

    /// Why this summary cannot be the output of a real run, or nil.
    public func inconsistency() -> String? {
        let limit = Self.maxCount
        let s = settings
        guard s.threshold.isFinite else { return "settings.threshold is not finite" }
        guard (1...limit).contains(s.window) else { return "settings.window \(s.window) is out of range" }
        guard (0..<s.window).contains(s.context) else { return "settings.context \(s.context) is out of range" }
        guard (1...limit).contains(s.chunkTargets) else { return "settings.chunk_targets \(s.chunkTargets) is out of range" }
        if let b = s.batchBytes, !(0...limit).contains(b) { return "settings.batch_bytes \(b) is out of range" }
        guard (1...Self.maxShardCount).contains(shardCount) else {
            return "shard_count \(shardCount) is out of range (1 to \(Self.maxShardCount))"
        }
        guard !shards.isEmpty, shards.count <= shardCount else { return "shards lists \(shards.count) shards of \(shardCount)" }
        if let bad = shards.first(where: { !(0..<shardCount).contains($0) }) {
            return "shard \(bad) is out of range for shard_count \(shardCount) (shards are 0 to \(shardCount - 1))"
        }
        guard Set(shards).count == shards.count else { return "shards lists a shard twice" }
        let u = sums
        let counts = [("documents", u.documents), ("skipped_empty", u.skippedEmpty), ("skipped_bad_lines", u.skippedBadLines),
                      ("bytes", u.bytes), ("targets", u.targets), ("patches", u.patches), ("windows", u.windows),
                      ("by_document.units", u.byDocument.units), ("by_document.targets", u.byDocument.targets),
                      ("by_chunk.units", u.byChunk.units), ("by_chunk.targets", u.byChunk.targets)]
        if let (name, value) = counts.first(where: { !(0...limit).contains($0.1) }) {
            return "sums.\(name) \(value) is out of range (0 to \(limit))"
        }
        // Every scored document has at least one byte, and one more target for its EOS.
        let expectedTargets = u.bytes + (s.addEOS ? u.documents : 0)
        guard u.targets == expectedTargets else {
            return "sums.targets \(u.targets) disagrees with \(u.bytes) bytes in \(u.documents) documents\(s.addEOS ? " (+1 EOS each)" : "")"
        }
        guard u.bytes >= u.documents, (u.documents == 0) == (u.targets == 0) else {
            return "sums.bytes \(u.bytes) and sums.documents \(u.documents) disagree"
        }
        guard u.byDocument.units == u.documents, u.byDocument.targets == u.targets, u.byChunk.targets == u.targets,
              u.byChunk.units >= u.documents, u.byChunk.units <= u.targets else {
            return "sums.by_document / sums.by_chunk disagree with the document and target counts"
        }
        guard u.windows >= u.documents, u.patches <= u.targets else { return "sums.windows or sums.patches is out of range" }
        // Σ ≥ 0 for NLL, bits, squares and cross terms; magnitudes bounded so sums of many files stay exact.
        let rawLimit = Int128(1) << 110
        let exact = [("nll_nats", u.nllNats), ("by_document.bits", u.byDocument.bits), ("by_document.bits_squared", u.byDocument.bitsSquared),
                     ("by_document.bits_times_targets", u.byDocument.bitsTimesTargets), ("by_document.targets_squared", u.byDocument.targetsSquared),
                     ("by_chunk.bits", u.byChunk.bits), ("by_chunk.bits_squared", u.byChunk.bitsSquared),
                     ("by_chunk.bits_times_targets", u.byChunk.bitsTimesTargets), ("by_chunk.targets_squared", u.byChunk.targetsSquared)]
        if let (name, _) = exact.first(where: { $0.1.raw < 0 || $0.1.raw > rawLimit }) {
            return "sums.\(name) is negative or out of range"
        }
        guard u.seconds.isFinite, u.seconds == 0 || (1e-9..<1e12).contains(u.seconds) else {
            return "sums.seconds \(u.seconds) is out of range (0, or 1e-9 to 1e12)"
        }
        for (name, value) in [("flops", u.flops), ("weight_bytes_read", u.weightBytesRead)] {
            if let value, !(value.isFinite && (0...1e30).contains(value)) { return "sums.\(name) \(value) is out of range (0 to 1e30)" }
        }
        if let documents = perDocument {
            guard documents.count <= u.documents else { return "per_document lists \(documents.count) documents but sums.documents is \(u.documents)" }
            var indexes = Set<Int>()
            for d in documents {
                guard (0...limit).contains(d.index), indexes.insert(d.index).inserted else {
                    return "per_document index \(d.index) is out of range or repeated"
                }
                guard (1...limit).contains(d.bytes), d.targets == d.bytes + (s.addEOS ? 1 : 0),
                      (1...limit).contains(d.windows), (0...d.targets).contains(d.patches) else {
                    return "per_document entry \(d.index) has out-of-range counts"
                }
                guard d.nllNats.isFinite, d.nllNats >= 0 else { return "per_document entry \(d.index) has a negative or non-finite nll_nats" }
            }
        }
        return nil
    }
}

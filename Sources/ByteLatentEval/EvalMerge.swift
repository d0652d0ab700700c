import ByteLatent

// `blt eval-merge`: shard outputs combined into the figures of one run. Sums are exact, so the
// merge equals the single run bit for bit; every shard must come from the same settings and model.
extension EvalSummary {
    public enum MergeError: Error, CustomStringConvertible, Equatable {
        case nothingToMerge
        case settingsDiffer(field: String, first: String, other: String, file: String)
        case shardCountsDiffer(first: Int, other: Int, file: String)
        case duplicateShard(Int, file: String)
        case missingShards([Int], count: Int)
        /// Only the first few missing shards are listed; `total` says how many there are.
        case missingShardsOf(first: [Int], total: Int, count: Int)
        case modelsDiffer(first: String, other: String, file: String)
        case duplicateDocument(Int, file: String)
        case overflow(file: String)

        public var description: String {
            switch self {
            case .nothingToMerge: return "no evaluation outputs to merge; pass the summaries of a run's shards"
            case .settingsDiffer(let field, let first, let other, let file):
                return "'\(file)' was evaluated with \(field) = \(other), but the first file with \(field) = \(first); merge only shards of one run"
            case .shardCountsDiffer(let first, let other, let file):
                return "'\(file)' is a shard of \(other), but the first file is a shard of \(first); merge only shards of one run"
            case .duplicateShard(let index, let file):
                return "shard \(index) appears twice (again in '\(file)'); each shard must be merged once"
            case .missingShards(let missing, let count):
                let list = missing.map(String.init).joined(separator: ", ")
                return (missing.count == 1 ? "shard \(list) of \(count) is missing" : "shards \(list) of \(count) are missing") + "; pass every shard's output, or allow a partial merge (allowPartial) to merge what is there"
            case .missingShardsOf(let first, let total, let count):
                let list = first.map(String.init).joined(separator: ", ")
                return "\(total) of \(count) shards are missing (\(list), …); pass every shard's output, or allow a partial merge (allowPartial) to merge what is there"
            case .modelsDiffer(let first, let other, let file):
                return "'\(file)' was evaluated with a different model (fingerprint \(other)) than the first file (\(first)); merge only shards of one run"
            case .duplicateDocument(let index, let file):
                return "document \(index) appears twice (again in '\(file)'); merge each shard once"
            case .overflow(let file):
                return "adding '\(file)' overflows the totals; the file is not the output of a real run"
            }
        }
    }

    /// Combines shard outputs into the summary of the whole run. `names` label the inputs in errors.
    public static func merge(_ parts: [EvalSummary], names: [String]? = nil, allowPartial: Bool = false) throws -> EvalSummary {
        guard var merged = parts.first else { throw MergeError.nothingToMerge }
        let labels = names ?? parts.indices.map { "input \($0 + 1)" }
        var seenShards = Set(merged.shards)
        var seenDocuments = Set(merged.perDocument?.map(\.index) ?? [])
        for (part, label) in zip(parts, labels).dropFirst() {
            if let a = merged.settings.modelFingerprint, let b = part.settings.modelFingerprint, a != b {
                throw MergeError.modelsDiffer(first: a, other: b, file: label)
            }
            if let (field, a, b) = difference(merged.settings, part.settings) {
                throw MergeError.settingsDiffer(field: field, first: a, other: b, file: label)
            }
            if part.shardCount != merged.shardCount {
                throw MergeError.shardCountsDiffer(first: merged.shardCount, other: part.shardCount, file: label)
            }
            for shard in part.shards {
                guard seenShards.insert(shard).inserted else { throw MergeError.duplicateShard(shard, file: label) }
            }
            merged.shards += part.shards
            guard merged.sums.mergeChecked(part.sums) else { throw MergeError.overflow(file: label) }
            if let documents = part.perDocument, merged.perDocument != nil {
                for document in documents {
                    guard seenDocuments.insert(document.index).inserted else { throw MergeError.duplicateDocument(document.index, file: label) }
                }
                merged.perDocument! += documents
            } else {
                merged.perDocument = nil
            }
        }
        merged.shards.sort()
        merged.perDocument?.sort { $0.index < $1.index }
        // The missing shards are the gaps between the sorted present ones: time and memory follow
        // the files given, never the shard count a file claims.
        var missing: [Int] = []
        var total = 0
        var next = 0
        for shard in merged.shards + [merged.shardCount] {
            if shard > next {
                total += shard - next
                var i = next
                while i < shard, missing.count < 10 { missing.append(i); i += 1 }
            }
            next = shard + 1
        }
        if total > 0, !allowPartial {
            if total == missing.count { throw MergeError.missingShards(missing, count: merged.shardCount) }
            throw MergeError.missingShardsOf(first: missing, total: total, count: merged.shardCount)
        }
        return merged
    }

    static func difference(_ a: EvalSettings, _ b: EvalSettings) -> (String, String, String)? {
        // The fingerprint identifies the model when both outputs have one (directories may be
        // renamed or copied between machines); older outputs fall back to the directory name.
        let model: (String, String, String) = a.modelFingerprint != nil || b.modelFingerprint != nil
            ? ("model_fingerprint", a.modelFingerprint ?? "(none)", b.modelFingerprint ?? "(none)") : ("model", a.model, b.model)
        let fields: [(String, String, String)] = [
            model, ("threshold", "\(a.threshold)", "\(b.threshold)"),
            ("window", "\(a.window)", "\(b.window)"), ("context", "\(a.context)", "\(b.context)"),
            ("add_eos", "\(a.addEOS)", "\(b.addEOS)"), ("field", a.field, b.field),
            ("inputs", a.inputs.joined(separator: " "), b.inputs.joined(separator: " ")),
            ("chunk_targets", "\(a.chunkTargets)", "\(b.chunkTargets)"),
            ("batch_bytes", a.batchBytes.map(String.init) ?? "(none)", b.batchBytes.map(String.init) ?? "(none)"),
            ("patching", a.patching ?? "entropy", b.patching ?? "entropy"),
        ]
        return fields.first { $0.1 != $0.2 }
    }
}

import ByteLatent
import Foundation
import Safetensors
import JSONSupport

/// One setting of a sweep and what it gave.
public struct SweepRow {
    public var patching: PatchingScheme
    /// Exactly what `Evaluator.run` gives with this scheme (`seconds` aside).
    public var summary: EvalSummary
    /// FLOPs of every forward pass of the run, per part (`ComputeCount.forward`).
    public var compute: ComputeCount
    /// FLOPs per scored byte (targets: bytes and EOS), per part.
    public var flopsPerByte: ComputeCount { compute.divided(by: summary.sums.targets) }
}

extension Evaluator {
    /// Scores `reader` under each scheme of `settings`, one row per setting. The pass planner runs
    /// once per setting, so each row is what `run` with that scheme gives, bit for bit; the entropy
    /// model runs once per pass (and once more alone for a sequence with a decision close to
    /// flipping), its entropies kept for every later setting. They are kept for the whole sweep:
    /// 4 bytes per id scored. `progress` gets the setting's index; `badLine` is called in the first
    /// setting's run only.
    public func sweep(_ reader: DocumentReader, settings: [PatchingScheme], shard: Shard = .whole,
                      progress: ((Int, EvalProgress) -> Void)? = nil, badLine: ((BadLine) -> Void)? = nil) throws -> [SweepRow] {
        guard !settings.isEmpty else { throw BLTError.invalidInput("a sweep needs at least one patching setting") }
        let cache = EntropyCache()
        var rows: [SweepRow] = []
        for (i, scheme) in settings.enumerated() {
            var options = self.options
            options.patching = scheme
            options.threshold = nil
            let evaluator = try Evaluator(model: model, options: options)
            evaluator.entropyCache = cache
            let report = progress.map { p in { (value: EvalProgress) in p(i, value) } }
            let summary = try evaluator.run(reader, shard: shard, progress: report, badLine: i == 0 ? badLine : nil)
            rows.append(SweepRow(patching: evaluator.patching, summary: summary, compute: evaluator.compute))
        }
        return rows
    }
}

extension SweepRow {
    /// The row as `blt sweep --json` writes it: the setting, the headline figures, FLOPs per byte
    /// per part, and the whole evaluation summary (the object `blt eval --json` prints).
    package var json: JSONValue {
        let s = summary
        func parts(_ c: ComputeCount) -> JSONValue {
            let items: [(String, JSONValue)] = [
                ("entropy_model", .double(c.entropyModel)), ("global_transformer", .double(c.globalTransformer)),
                ("local_decoder", .double(c.localDecoder)), ("local_encoder", .double(c.localEncoder)), ("total", .double(c.total)),
            ]
            return .object(items)
        }
        let stderr: JSONValue = s.bitsPerByteStandardError.map { JSONValue.double($0) } ?? .null
        let bitsPerByte: JSONValue = s.sums.targets == 0 ? .null : .double(s.bitsPerByte)
        let meanPatch: JSONValue = s.sums.patches == 0 ? .null : .double(s.meanPatchBytes)
        let threshold: JSONValue = patching.rule.usesThreshold ? .double(Double(patching.threshold)) : .null
        var items: [(String, JSONValue)] = [("bits_per_byte", bitsPerByte), ("bits_per_byte_stderr", stderr)]
        items.append(("flops", parts(compute)))
        items.append(("flops_per_byte", parts(flopsPerByte)))
        items.append(("mean_patch_bytes", meanPatch))
        items.append(("patches", .int(s.sums.patches)))
        items.append(("patching", .string(patching.identifier)))
        items.append(("seconds", .double(s.sums.seconds)))
        items.append(("summary", s.json))
        items.append(("threshold", threshold))
        return .object(items)
    }

    /// A short label: "entropy 1.335", "topk 4", "space".
    public var label: String {
        switch patching.rule {
        case .entropy, .monotonic, .entropyMonotonic:
            return "\(patching.rule.name) \(String(format: "%.4g", Double(patching.threshold)))"
        case .topK(let p), .fixed(let p): return "\(patching.rule.name) \(p)"
        case .space: return "space"
        }
    }
}

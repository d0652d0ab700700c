import ByteLatent
import ByteLatentConvert
import ByteLatentEval

/// Library errors in the command line's words. The libraries name what a caller sets
/// (`EvalOptions.window`, `DocumentReader`'s `skipBadLines`, `ConvertOptions.force`, …); here the
/// errors a user fixes with a flag are said again with that flag. Anything else passes unchanged.
enum FlagWording {
    /// The message the command line gives for `error`, or nil when the library's own says it.
    static func message(for error: Error) -> String? {
        switch error {
        case WindowPlanError.windowTooSmall(let window):
            return "a window of \(window) id\(window == 1 ? "" : "s") cannot hold a patch: it needs the BOS and at least one byte; pass --window 2 or more (the default comes from the model's limits)"
        case WindowPlanError.contextTooLarge(let context, let window):
            return "--context \(context) leaves no room to score anything in a window of \(window) ids (BOS + context + at least one byte); use --context \(max(0, window - 2)) or less, or a larger --window"
        case EvalError.windowTooLarge(let window, let positions):
            return "--window \(window) exceeds the model's \(positions) positions (max_position_embeddings); use --window \(positions) or less"
        case DocumentError.malformedLine(let file, let line, let reason):
            return "\(file):\(line): \(lineReason(reason)); fix the line, or pass --skip-bad-lines to skip such lines (they are counted)"
        case DocumentError.badShard(let text):
            return "--shard '\(text)' is not I/N with 0 ≤ I < N ≤ \(EvalSummary.maxShardCount) (e.g. --shard 0/4)"
        case EvalSummary.MergeError.nothingToMerge:
            return "no evaluation outputs to merge; pass the JSON files written by `blt eval --json --shard I/N`"
        case EvalSummary.MergeError.missingShards(let missing, let count):
            let list = missing.map(String.init).joined(separator: ", ")
            return (missing.count == 1 ? "shard \(list) of \(count) is missing" : "shards \(list) of \(count) are missing")
                + "; pass every shard's output, or --allow-partial to merge what is there"
        case EvalSummary.MergeError.missingShardsOf(let first, let total, let count):
            let list = first.map(String.init).joined(separator: ", ")
            return "\(total) of \(count) shards are missing (\(list), …); pass every shard's output, or --allow-partial to merge what is there"
        case let error as EvalSummary.LoadError:
            return "'\(error.source)' is not a usable output of `blt eval --json`: \(error.reason); pass the files that `blt eval --json --shard I/N` wrote, unedited"
        case ConvertError.destinationExists(let path):
            return "\(path) already exists; pass --force to replace it"
        default:
            return nil
        }
    }

    /// `error` as the command line reports it.
    static func reworded(_ error: Error) -> Error { message(for: error).map(CommandError.init) ?? error }

    /// A bad JSONL line's reason, with the flag that picks the field when the field was missing.
    static func lineReason(_ reason: String) -> String {
        // DocumentReader.missingFieldReason(field) is "no field '<field>'".
        reason.hasPrefix("no field '") && reason.hasSuffix("'") ? reason + " (choose the field with --field NAME)" : reason
    }
}

import ArgumentParser
import ByteLatent

/// The patching flags shared by eval, patch, generate, serve and sweep: they override config.json's
/// rule, threshold and max_patch_length (Docs/patching.md).
struct PatchingOptions: ParsableArguments {
    @Option(name: .long, help: "Patching rule: entropy (default unless config.json says otherwise), monotonic, entropy+monotonic, topk, space or static.")
    var patching: String?

    @Option(name: .long, parsing: .unconditional, help: "Entropy threshold in nats (default: the model's patching_threshold); for entropy, monotonic and entropy+monotonic.")
    var threshold: Float?

    @Option(name: .customLong("threshold-add"), parsing: .unconditional, help: "entropy+monotonic: the rise over the previous byte's entropy a start also needs (default: config.json's patching_threshold_add, else 0 as the official function).")
    var thresholdAdd: Float?

    @Option(name: .customLong("patch-size"), parsing: .unconditional, help: "topk: ids per patch of the budget (length / N patches); static: ids per patch (default: config.json's patch_size when it is a whole number).")
    var patchSize: Int?

    @Option(name: .customLong("max-patch-length"), parsing: .unconditional, help: "Split patches longer than N ids (0: no limit; default: config.json's max_patch_length).")
    var maxPatchLength: Int?

    @Option(name: .customLong("entropy-context"), help: "What the entropy model sees: transformers (default: the whole sequence in one pass) or official (a fresh pass every 8192 ids, as the official calculate_entropies). They differ only on sequences longer than 8192 ids.")
    var entropyContext: String?

    static let ruleNames = ["entropy", "monotonic", "entropy+monotonic", "topk", "space", "static"]

    func validate() throws {
        if let patching, !Self.ruleNames.contains(patching) {
            throw ValidationError("--patching must be one of \(Self.ruleNames.joined(separator: ", ")), not '\(patching)'")
        }
        if let entropyContext, EntropyContext(rawValue: entropyContext) == nil {
            throw ValidationError("--entropy-context must be transformers or official, not '\(entropyContext)'")
        }
        try requireFinite(threshold, "--threshold")
        try requireFinite(thresholdAdd, "--threshold-add")
        if let patchSize, patchSize < 1 || patchSize > BLTConfig.Limits.positions {
            throw ValidationError("--patch-size must be between 1 and \(BLTConfig.Limits.positions) ids (got \(patchSize))")
        }
        if let maxPatchLength, maxPatchLength < 0 || maxPatchLength > BLTConfig.Limits.positions {
            throw ValidationError("--max-patch-length must be between 0 (no limit) and \(BLTConfig.Limits.positions) ids (got \(maxPatchLength))")
        }
    }

    /// The scheme these flags select on top of the model's (config.json's) own; `threshold` and
    /// `patchSize` stand in for the flags (one setting of a sweep).
    func scheme(for model: BLTModel, threshold: Float? = nil, patchSize sweptSize: Int? = nil) throws -> PatchingScheme {
        let patchSize = sweptSize ?? self.patchSize
        let base = model.patching
        let name = patching ?? base.rule.name
        let rule: PatchingRule
        switch name {
        case "entropy": rule = .entropy
        case "monotonic": rule = .monotonic
        case "entropy+monotonic":
            var configured: Float?
            if case .entropyMonotonic(let add) = base.rule { configured = add }
            rule = .entropyMonotonic(thresholdAdd: thresholdAdd ?? configured ?? 0)
        case "space": rule = .space
        case "topk", "static":
            var configured: Int?
            if case .topK(let p) = base.rule { configured = p }
            if case .fixed(let p) = base.rule { configured = p }
            if configured == nil, let size = model.config.patchSize, size == size.rounded(), size >= 1, size <= Double(BLTConfig.Limits.positions) {
                configured = Int(size)
            }
            guard let size = patchSize ?? configured else {
                throw CommandError("--patching \(name) needs --patch-size N (config.json's patch_size is \(model.config.patchSize.map { "\($0)" } ?? "not set"), not a whole number of ids)")
            }
            rule = name == "topk" ? .topK(patchSize: size) : .fixed(patchSize: size)
        default:
            throw CommandError("--patching must be one of \(Self.ruleNames.joined(separator: ", "))")
        }
        if thresholdAdd != nil, name != "entropy+monotonic" {
            throw CommandError("--threshold-add applies only to --patching entropy+monotonic (the rule here is \(name))")
        }
        if patchSize != nil, name != "topk", name != "static" {
            throw CommandError("--patch-size applies only to --patching topk or static (the rule here is \(name))")
        }
        let chosenThreshold = threshold ?? self.threshold
        if chosenThreshold != nil, !rule.usesThreshold {
            throw CommandError("\(name) patching does not use an entropy threshold; drop --threshold (or use --patching entropy, monotonic or entropy+monotonic)")
        }
        if entropyContext != nil, !rule.needsEntropies {
            throw CommandError("\(name) patching runs no entropy model; drop --entropy-context")
        }
        let maxLength = maxPatchLength.map { $0 == 0 ? nil : $0 } ?? base.maxPatchLength
        do {
            var scheme = try PatchingScheme(rule: rule, threshold: chosenThreshold ?? base.threshold, maxPatchLength: maxLength)
            scheme.entropyContext = entropyContext.flatMap(EntropyContext.init(rawValue:)) ?? base.entropyContext
            return scheme
        } catch {
            throw CommandError("\(error)")
        }
    }
}

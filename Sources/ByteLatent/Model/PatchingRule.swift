/// How a sequence is cut into patches: the rules of the official facebookresearch/blt patcher
/// (`bytelatent/data/patcher.py`), re-implemented here and tested against vectors computed by
/// running its functions (`Converters/reference/make_patching_vectors.py`).
///
/// Every rule decides, for a sequence of `count` ids, which of the positions 0…count start a patch
/// (position `count` is the next, not yet seen slot). Positions 0 and 1 always start one: the BOS
/// is patch 0 alone, as the decoder's shifted cross-attention needs.
public enum PatchingRule: Sendable, Equatable, CustomStringConvertible {
    /// t ≥ 2 starts a patch iff H[t−1] > threshold (the released models' rule).
    case entropy
    /// t = 2 always starts; t ≥ 3 starts iff H[t−1] − H[t−2] > threshold (official `monotonicity`).
    case monotonic
    /// The official `threshold_add` rule, as `patch_start_mask_global_and_monotonicity` writes it:
    /// t = 2 always starts, t = 3 never, t ≥ 4 iff H[t−1] − H[t−2] > thresholdAdd and H[t−1] > threshold.
    case entropyMonotonic(thresholdAdd: Float)
    /// The official fixed budget (threshold None): count / patchSize patches, starting at 0, 1 and the
    /// count / patchSize − 2 positions t ≥ 2 with the highest H[t−1].
    case topK(patchSize: Int)
    /// The official space patching: t ≥ 2 starts after a byte that is not a letter, digit or UTF-8
    /// continuation byte unless the byte before it was one too, and after every special id.
    case space
    /// Fixed-length patches of `patchSize` ids after the BOS (the paper's baseline; the official model
    /// pads the BOS patch with patchSize − 1 BOE ids, which carry no bytes).
    case fixed(patchSize: Int)

    /// The word the command line and JSON use.
    public var name: String {
        switch self {
        case .entropy: return "entropy"
        case .monotonic: return "monotonic"
        case .entropyMonotonic: return "entropy+monotonic"
        case .topK: return "topk"
        case .space: return "space"
        case .fixed: return "static"
        }
    }

    public var description: String {
        switch self {
        case .entropyMonotonic(let add): return "\(name) (threshold_add \(add))"
        case .topK(let p), .fixed(let p): return "\(name) (patch size \(p))"
        default: return name
        }
    }

    /// Whether the rule reads the entropy model's entropies (space and static never run it).
    public var needsEntropies: Bool {
        switch self {
        case .space, .fixed: return false
        default: return true
        }
    }

    /// Whether the rule compares entropies with the threshold.
    public var usesThreshold: Bool {
        switch self {
        case .entropy, .monotonic, .entropyMonotonic: return true
        default: return false
        }
    }

    /// Whether a position's decision never changes as the sequence grows (generation needs this).
    public var isIncremental: Bool {
        if case .topK = self { return false }
        return true
    }
}

/// What the entropy model sees when it computes a sequence's entropies.
public enum EntropyContext: String, Sendable, Equatable, CaseIterable {
    /// One pass over the whole sequence (transformers).
    case transformers
    /// A fresh pass every `officialChunk` ids, positions from 0 (the official `calculate_entropies`).
    case official

    /// The official chunk: `getattr(entropy_model, "max_length", 8192)`, always 8192.
    public static let officialChunk = 8192
}

/// A patching rule with its threshold and `max_patch_length`: everything that decides patches.
public struct PatchingScheme: Sendable, Equatable, CustomStringConvertible {
    public var rule: PatchingRule
    /// How the entropies the rule reads are computed (sequences up to 8,192 ids: the same either way).
    public var entropyContext: EntropyContext = .transformers
    /// Nats; used by the entropy, monotonic and entropy+monotonic rules.
    public var threshold: Float
    /// Patches longer than this are split (nil: no limit).
    public var maxPatchLength: Int?

    /// - Throws: `BLTError.invalidInput` for a non-finite threshold, a patch size or maximum length
    ///   below 1 or above `BLTConfig.Limits.positions`.
    public init(rule: PatchingRule = .entropy, threshold: Float, maxPatchLength: Int? = nil) throws {
        guard threshold.isFinite else {
            throw BLTError.invalidInput("the entropy threshold must be a finite number, not \(threshold)")
        }
        let limit = BLTConfig.Limits.positions
        switch rule {
        case .entropyMonotonic(let add) where !add.isFinite:
            throw BLTError.invalidInput("the entropy+monotonic rule's threshold_add must be a finite number, not \(add)")
        case .topK(let p), .fixed(let p):
            guard (1...limit).contains(p) else {
                throw BLTError.invalidInput("the \(rule.name) rule needs a patch size between 1 and \(limit) ids, not \(p)")
            }
        default: break
        }
        if let m = maxPatchLength, !(1...limit).contains(m) {
            throw BLTError.invalidInput("the maximum patch length must be between 1 and \(limit) ids, not \(m)")
        }
        self.init(unchecked: rule, threshold: threshold, maxPatchLength: maxPatchLength)
    }

    init(unchecked rule: PatchingRule, threshold: Float, maxPatchLength: Int?) {
        self.rule = rule
        self.threshold = threshold
        self.maxPatchLength = maxPatchLength
    }

    /// A stable name of the whole scheme, recorded with evaluation results: "entropy",
    /// "entropy+monotonic:0.25", "topk:4", "static:4", "space", then ",max_patch_length=N" if set
    /// (the threshold is recorded on its own).
    public var identifier: String {
        var text = rule.name
        switch rule {
        case .entropyMonotonic(let add): text += ":\(add)"
        case .topK(let p), .fixed(let p): text += ":\(p)"
        default: break
        }
        if let m = maxPatchLength { text += ",max_patch_length=\(m)" }
        if entropyContext != .transformers, rule.needsEntropies { text += ",entropy_context=\(entropyContext.rawValue)" }
        return text
    }

    public var description: String {
        var text = rule.description
        if rule.usesThreshold { text += ", threshold \(threshold)" }
        if let m = maxPatchLength { text += ", max patch length \(m)" }
        return text
    }

    /// Patch start positions among 0…ids.count (ids.count is the next, unseen slot), ascending.
    /// `entropies` (one per id) may be empty when the rule does not read them.
    public func starts(ids: [Int32], entropies: [Float]) throws -> [Int] {
        try starts(count: ids.count, ids: ids, entropies: entropies)
    }

    /// `ids` may be nil for rules other than space.
    func starts(count: Int, ids: [Int32]?, entropies: [Float]) throws -> [Int] {
        guard count > 0 else { return [] }
        if rule.needsEntropies, entropies.count != count {
            throw BLTError.invalidInput("the \(rule.name) rule needs one entropy per id: \(entropies.count) entropies for \(count) ids")
        }
        var starts = [0, 1]
        let h = entropies
        switch rule {
        case .entropy:
            for t in stride(from: 2, through: count, by: 1) where h[t - 1] > threshold { starts.append(t) }
        case .monotonic:
            for t in stride(from: 2, through: count, by: 1) where t == 2 || h[t - 1] - h[t - 2] > threshold { starts.append(t) }
        case .entropyMonotonic(let add):
            // The official mask ANDs "not right after a start" with a mask in which only t = 2 is set.
            for t in stride(from: 2, through: count, by: 1)
            where t == 2 || (t >= 4 && h[t - 1] - h[t - 2] > add && h[t - 1] > threshold) { starts.append(t) }
        case .topK(let p):
            let k = count / p - 2
            guard k >= 0 else {
                throw BLTError.invalidInput("topk patching with patch size \(p) allocates \(count) / \(p) = \(count / p) patches for \(count) ids, fewer than the 2 it always starts (BOS and first byte); it needs at least \(2 * p) ids per sequence: use a smaller patch size or longer texts")
            }
            // Highest H[t−1] first; among equal entropies the earlier position (torch leaves ties unspecified).
            let ranked = Array(2...count).sorted { (a: Int, b: Int) -> Bool in
                let ha: Float = h[a - 1], hb: Float = h[b - 1]
                return ha != hb ? ha > hb : a < b
            }
            starts += ranked.prefix(k).sorted()
        case .space:
            guard let ids else { throw BLTError.invalidInput("space patching reads the ids; pass them") }
            starts += Self.spaceStarts(ids)
        case .fixed(let p):
            starts += stride(from: 1 + p, through: count, by: p)
        }
        return starts
    }

    /// Patch lengths in the engine's (transformers') layout: they sum to ids.count; a start at the
    /// next slot leaves a zero-length trailing patch; `maxPatchLength` splits long patches into
    /// max, max, …, remainder and drops empty ones, as transformers does.
    public func patchLengths(ids: [Int32], entropies: [Float]) throws -> [Int] {
        try patchLengths(count: ids.count, ids: ids, entropies: entropies)
    }

    func patchLengths(count: Int, ids: [Int32]?, entropies: [Float]) throws -> [Int] {
        let s = try starts(count: count, ids: ids, entropies: entropies)
        let lengths = zip(s, s.dropFirst() + [count]).map { $1 - $0 }
        guard let m = maxPatchLength else { return lengths }
        return lengths.flatMap { length -> [Int] in
            guard length > 0 else { return [] }
            return Array(repeating: m, count: length / m) + (length % m > 0 ? [length % m] : [])
        }
    }

    /// Patch lengths as the official `Patcher.patch` returns them for one sequence: with
    /// `includeNextToken` they sum to ids.count + 1 (the last patch covers the unseen next slot),
    /// long patches are split without dropping anything, and trailing empty patches are trimmed.
    /// (`fixed` gives the BOS alone first, as the official model's BOE-padded first patch holds.)
    public func officialPatchLengths(ids: [Int32], entropies: [Float], includeNextToken: Bool) throws -> [Int] {
        try officialPatchLengths(count: ids.count, ids: ids, entropies: entropies, includeNextToken: includeNextToken)
    }

    func officialPatchLengths(count: Int, ids: [Int32]?, entropies: [Float], includeNextToken: Bool) throws -> [Int] {
        let total = count + (includeNextToken ? 1 : 0)
        let s = try starts(count: count, ids: ids, entropies: entropies).filter { $0 < total }
        var lengths = zip(s, s.dropFirst() + [total]).map { $1 - $0 }
        if let m = maxPatchLength {
            lengths = lengths.flatMap { length in length > m ? Array(repeating: m, count: (length - 1) / m) + [length - (length - 1) / m * m] : [length] }
        }
        while lengths.last == 0 { lengths.removeLast() }
        return lengths
    }

    /// Whether a decision of this scheme on `entropies` lies within `margin` of flipping (an entropy,
    /// or a difference of neighbours, that close to what it is compared with): packed passes then
    /// recompute the sequence's entropies alone so that decisions are the one-at-a-time ones.
    public func isClose(entropies h: [Float], margin: Float) -> Bool {
        guard h.count >= 2 else { return false }
        switch rule {
        case .entropy:
            return h.dropFirst().contains { (v: Float) -> Bool in abs(v - threshold) <= margin }
        case .monotonic:
            return (2..<h.count).contains { (i: Int) -> Bool in abs(h[i] - h[i - 1] - threshold) <= margin }
        case .entropyMonotonic(let add):
            return (2..<h.count).contains { (i: Int) -> Bool in
                abs(h[i] - h[i - 1] - add) <= margin || abs(h[i] - threshold) <= margin
            }
        case .topK(let p):
            // Only the last chosen and the first left-out candidate can swap.
            let k = h.count / p - 2
            let ranked: [Float] = h.dropFirst().sorted(by: >)
            guard k > 0, k < ranked.count else { return false }
            return ranked[k - 1] - ranked[k] <= margin
        case .space, .fixed:
            return false
        }
    }

    /// Positions t ≥ 2 that start a patch under space patching (official `find_space_patch_start_ids`).
    static func spaceStarts(_ ids: [Int32]) -> [Int] {
        func spaceLike(_ id: Int32) -> Bool {
            let b: Int = Int(id) - Int(Tokenizer.offset)   // special ids are negative here: below "0"
            if b < 48 || b >= 192 { return true }            // below "0", or a UTF-8 lead byte
            if b > 57 && b < 65 { return true }              // between "9" and "A"
            if b > 90 && b < 97 { return true }              // between "Z" and "a"
            return b > 122 && b < 128                        // after "z", ASCII
        }
        var starts: [Int] = []
        for t in stride(from: 2, through: ids.count, by: 1) {
            let i = t - 1
            let ends = (spaceLike(ids[i]) && !spaceLike(ids[i - 1])) || ids[i] < Tokenizer.offset
            if ends { starts.append(t) }
        }
        return starts
    }
}

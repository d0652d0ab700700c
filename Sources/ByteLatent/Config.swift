import Foundation
import Safetensors
import JSONSupport

/// One Llama-style transformer stack: the entropy model, the local encoder, the global
/// transformer and the local decoder each have one.
public struct TransformerConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    public var intermediateSize: Int
    public var normEpsilon: Float
    public var ropeTheta: Double
    /// Keys visible to query i are i − window < j ≤ i; nil means plain causal attention.
    public var slidingWindow: Int?
    public var maxPositions: Int

    public var headDimension: Int { hiddenSize / headCount }

    public init(hiddenSize: Int, layerCount: Int, headCount: Int, keyValueHeadCount: Int? = nil,
                intermediateSize: Int, normEpsilon: Float = 1e-5, ropeTheta: Double,
                slidingWindow: Int? = nil, maxPositions: Int) {
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount ?? headCount
        self.intermediateSize = intermediateSize
        self.normEpsilon = normEpsilon
        self.ropeTheta = ropeTheta
        self.slidingWindow = slidingWindow
        self.maxPositions = maxPositions
    }
}

/// A `transformers` BLT config (`model_type: "blt"`), read from config.json. Values come from the
/// file; defaults are used only where transformers 5.24 has them.
public struct BLTConfig: Sendable, Equatable {
    public var vocabularySize: Int
    public var patcher: TransformerConfig
    public var encoder: TransformerConfig
    public var global: TransformerConfig
    public var decoder: TransformerConfig
    /// Each patch becomes k encoder-sized vectors (queries of the encoder cross-attention, keys of the decoder's).
    public var crossAttentionK: Int
    public var encoderCrossAttentionAllLayers: Bool
    public var decoderCrossAttentionAllLayers: Bool
    public var hashGroupSizes: [Int]
    public var hashFunctionCount: Int
    public var hashVocabularySize: Int
    public var patchingThreshold: Float
    public var maxPatchLength: Int?
    public var patchInForward: Bool
    /// The patching rule config.json asks for: `patching_mode` (entropy, space, static), with
    /// `monotonicity` / `patching_threshold_add` (the official patcher's), `patch_size` for static.
    public var patchingRule: PatchingRule
    /// `patch_size` (bytes per patch of the static and top-k rules; official default 4.5), if given.
    public var patchSize: Double?

    /// What config.json decides about patches: its rule, `patching_threshold`, `max_patch_length`.
    public var patching: PatchingScheme {
        PatchingScheme(unchecked: patchingRule, threshold: patchingThreshold, maxPatchLength: maxPatchLength)
    }

    /// Global input projection exists only when k · encoder hidden ≠ global hidden (blt-7b).
    public var hasGlobalInputProjection: Bool { crossAttentionK * encoder.hiddenSize != global.hiddenSize }
    public var hashTableCount: Int { hashFunctionCount * hashGroupSizes.count }

    public init(contentsOf path: String) throws {
        let data: Data
        switch FileContents.readRegularFile(path, limit: Self.maxFileBytes) {
        case .success(let read): data = read
        case .failure(let failure): throw BLTError.configUnreadable(path: path, reason: failure.reason)
        }
        let parsed: JSONValue
        do { parsed = try data.withUnsafeBytes { try JSONParser.parse($0.bindMemory(to: UInt8.self), options: .lenient) } } catch let error as JSONParseError {
            throw BLTError.configUnreadable(path: path, reason: Self.describe(error, in: data))
        }
        guard case .object(let items) = parsed else {
            throw BLTError.configUnreadable(path: path, reason: "the top level is not a JSON object")
        }
        try self.init(json: Dictionary(items, uniquingKeysWith: { _, last in last }))
    }

    /// A config.json is a few kilobytes; this bounds what a wrong path (a disk image) costs.
    static let maxFileBytes = 16 << 20

    /// "not valid JSON at line 3, column 14: expected ',' or '}'", or the byte-order mark named.
    static func describe(_ error: JSONParseError, in data: Data) -> String {
        if data.starts(with: [0xEF, 0xBB, 0xBF]) {
            return "it starts with a UTF-8 byte-order mark (EF BB BF), which JSON does not allow; save it as UTF-8 without a BOM"
        }
        let before = data.prefix(error.offset)
        let line = before.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        let column = before.count - (before.lastIndex(of: 0x0A).map { $0 - before.startIndex + 1 } ?? 0) + 1
        var found = ""
        if error.offset < data.count {
            let byte = data[data.startIndex + error.offset]
            found = byte >= 0x21 && byte < 0x7F ? " (found '\(Character(Unicode.Scalar(byte)))')" : " (found byte 0x\(String(byte, radix: 16, uppercase: true)))"
        }
        return "it is not valid JSON at line \(line), column \(column) (byte \(error.offset)): \(error.message)\(found)"
    }

    package init(json: [String: JSONValue]) throws {
        let root = JSONFields(json, path: "")
        let modelType = try root.string("model_type", default: nil)
        if modelType != "blt" {
            if modelType == nil, json["args"] != nil {
                throw BLTError.configInvalid(field: "model_type", reason: "is missing and the file has an \"args\" object: this is the original facebook/blt hub layout; convert it with `blt convert SRC DST`")
            }
            throw BLTError.unsupportedModelType(modelType ?? "(none)")
        }
        vocabularySize = try root.int("vocab_size", default: 260)
        crossAttentionK = try root.int("cross_attn_k", default: 2)
        hashGroupSizes = try root.intArray("encoder_hash_byte_group_size", default: [3, 4, 5, 6, 7, 8])
        hashFunctionCount = try root.int("encoder_hash_byte_group_nb_functions", default: 1)
        hashVocabularySize = try root.int("encoder_hash_byte_group_vocab", default: 500002)
        patchingThreshold = Float(try root.double("patching_threshold", default: 1.335442066192627))
        maxPatchLength = try root.optionalInt("max_patch_length")
        patchInForward = try root.bool("patch_in_forward", default: true)
        patchSize = try root.optionalDouble("patch_size")
        patchingRule = try Self.patchingRule(mode: try root.string("patching_mode", default: "entropy") ?? "entropy",
                                             monotonicity: try root.bool("monotonicity", default: false),
                                             thresholdAdd: try root.optionalDouble("patching_threshold_add"), patchSize: patchSize)
        let localWindow = try root.optionalInt("local_attention_window_len", default: 512)

        // All four are required: with one missing, transformers' defaults (blt-1b sizes) would be
        // checked against the others and the error would blame the wrong part.
        for key in ["patcher_config", "encoder_config", "decoder_config", "global_config"] where root.raw[key] == nil {
            throw BLTError.configInvalid(field: key, reason: "is missing; a transformers BLT config.json has patcher_config, encoder_config, decoder_config and global_config (is this the right file?)")
        }
        let patcherJSON = try root.object("patcher_config")
        let encoderJSON = try root.object("encoder_config")
        let decoderJSON = try root.object("decoder_config")
        let globalJSON = try root.object("global_config")
        // transformers defaults (configuration_blt.py, 5.24): blt-1b sizes, patcher theta 1e4, others 5e5.
        patcher = try Self.transformer(patcherJSON, hidden: 768, layers: 14, heads: 12, intermediate: 2048,
                                       maxPositions: 8192, theta: 10_000,
                                       window: try patcherJSON.optionalInt("sliding_window", default: 512))
        encoder = try Self.transformer(encoderJSON, hidden: 1024, layers: 1, heads: 16, intermediate: nil,
                                       maxPositions: 24576, theta: 500_000, window: localWindow)
        decoder = try Self.transformer(decoderJSON, hidden: 1024, layers: 9, heads: 16, intermediate: 2816,
                                       maxPositions: 24576, theta: 500_000, window: localWindow)
        global = try Self.transformer(globalJSON, hidden: 2048, layers: 25, heads: 16, intermediate: 5632,
                                      maxPositions: 4096, theta: 500_000, window: nil)
        encoderCrossAttentionAllLayers = try encoderJSON.bool("cross_attn_all_layers", default: false)
        decoderCrossAttentionAllLayers = try decoderJSON.bool("cross_attn_all_layers", default: true)
        try validate(encoderK: try encoderJSON.int("cross_attn_k", default: 2),
                     decoderK: try decoderJSON.int("cross_attn_k", default: 2),
                     decoderGlobalSize: try decoderJSON.int("hidden_size_global", default: 2048))
    }

    /// The rule of config.json's patching fields, or an error when the official patcher would
    /// ignore one of them (a setting is honoured or refused, never dropped).
    static func patchingRule(mode: String, monotonicity: Bool, thresholdAdd: Double?, patchSize: Double?) throws -> PatchingRule {
        if mode != "entropy", monotonicity || thresholdAdd != nil {
            throw BLTError.configInvalid(field: monotonicity ? "monotonicity" : "patching_threshold_add", reason: "applies only to patching_mode \"entropy\", not \"\(mode)\"; remove it (false / null) or use entropy patching")
        }
        switch mode {
        case "entropy":
            if monotonicity, thresholdAdd != nil {
                throw BLTError.configInvalid(field: "patching_threshold_add", reason: "is set together with monotonicity: true; the official patcher then applies monotonicity alone and ignores it. Set one of them: patching_threshold_add null for monotonic patching, or monotonicity false for the entropy+monotonic rule")
            }
            if monotonicity { return .monotonic }
            if let add = thresholdAdd {
                guard add.isFinite, abs(add) < 1e30 else {
                    throw BLTError.configInvalid(field: "patching_threshold_add", reason: "must be a finite number or null")
                }
                return .entropyMonotonic(thresholdAdd: Float(add))
            }
            return .entropy
        case "space":
            return .space
        case "static":
            guard let size = patchSize, size.isFinite, size >= 1, size <= Double(Limits.positions), size == size.rounded() else {
                throw BLTError.configInvalid(field: "patch_size", reason: "must be a whole number of bytes between 1 and \(Limits.positions) for patching_mode \"static\" (got \(patchSize.map { "\($0)" } ?? "none"))")
            }
            return .fixed(patchSize: Int(size))
        default:
            throw BLTError.configInvalid(field: "patching_mode", reason: "is '\(mode)'; the engine patches with \"entropy\" (with monotonicity or patching_threshold_add), \"space\" or \"static\"")
        }
    }

    private func validate(encoderK: Int, decoderK: Int, decoderGlobalSize: Int) throws {
        if encoderK != crossAttentionK || decoderK != crossAttentionK {
            throw BLTError.configInvalid(field: "cross_attn_k", reason: "differs between the model (\(crossAttentionK)), encoder_config (\(encoderK)) and decoder_config (\(decoderK))")
        }
        if decoderGlobalSize != global.hiddenSize {
            throw BLTError.configInvalid(field: "decoder_config.hidden_size_global", reason: "is \(decoderGlobalSize) but global_config.hidden_size is \(global.hiddenSize)")
        }
        if encoder.hiddenSize != decoder.hiddenSize {
            throw BLTError.configInvalid(field: "decoder_config.hidden_size", reason: "is \(decoder.hiddenSize) but the decoder starts from encoder states of size \(encoder.hiddenSize)")
        }
        if vocabularySize != Tokenizer.vocabularySize {
            throw BLTError.configInvalid(field: "vocab_size", reason: "is \(vocabularySize); BLT's byte vocabulary has 260 ids")
        }
        if hashFunctionCount < 0 || hashFunctionCount > HashEmbedding.primes.count {
            throw BLTError.configInvalid(field: "encoder_hash_byte_group_nb_functions", reason: "must be between 0 and \(HashEmbedding.primes.count)")
        }
        if hashGroupSizes.contains(where: { $0 < 1 }) || hashVocabularySize < 1 {
            throw BLTError.configInvalid(field: "encoder_hash_byte_group_size", reason: "group sizes and the hash vocabulary must be positive")
        }
        if crossAttentionK < 1 { throw BLTError.configInvalid(field: "cross_attn_k", reason: "must be at least 1") }
        if let m = maxPatchLength, m < 1 { throw BLTError.configInvalid(field: "max_patch_length", reason: "must be positive or null") }
        // Sizes are checked against limits far above any BLT (blt-7b: hidden 4096, 32 layers) before a
        // single buffer is allocated: a typo or a hostile file must fail here, not in malloc.
        func limit(_ field: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else {
                throw BLTError.configInvalid(field: field, reason: "is \(value), outside the supported range \(range.lowerBound)…\(range.upperBound)")
            }
        }
        try limit("cross_attn_k", crossAttentionK, 1...Limits.crossAttentionK)
        if let m = maxPatchLength { try limit("max_patch_length", m, 1...Limits.positions) }
        try limit("encoder_hash_byte_group_vocab", hashVocabularySize, 1...Limits.hashVocabulary)
        guard !hashGroupSizes.isEmpty || hashFunctionCount == 0, hashGroupSizes.count <= Limits.hashGroups else {
            throw BLTError.configInvalid(field: "encoder_hash_byte_group_size", reason: "must list 1 to \(Limits.hashGroups) group sizes")
        }
        for size in hashGroupSizes { try limit("encoder_hash_byte_group_size", size, 1...Limits.hashGroupSize) }
        guard patchingThreshold.isFinite else {
            throw BLTError.configInvalid(field: "patching_threshold", reason: "must be a finite number")
        }
        for (name, c) in [("patcher_config.", patcher), ("encoder_config.", encoder), ("decoder_config.", decoder), ("global_config.", global)] {
            try limit(name + "num_hidden_layers", c.layerCount, 1...Limits.layers)
            try limit(name + "intermediate_size", c.intermediateSize, 1...Limits.intermediate)
            try limit(name + "max_position_embeddings", c.maxPositions, 1...Limits.positions)
            if let w = c.slidingWindow { try limit(name + "sliding_window", w, 1...Limits.positions) }
            guard c.normEpsilon.isFinite, c.normEpsilon > 0 else {
                throw BLTError.configInvalid(field: name + "rms_norm_eps", reason: "must be a positive finite number")
            }
            guard c.ropeTheta.isFinite, c.ropeTheta > 0 else {
                throw BLTError.configInvalid(field: name + "rope_theta", reason: "must be a positive finite number")
            }
        }
    }

    /// Upper bounds on config sizes (each far above facebook/blt-7b's).
    public enum Limits {
        public static let hidden = 1 << 16
        public static let heads = 1 << 10
        public static let layers = 1 << 10
        public static let intermediate = 1 << 20
        public static let positions = 1 << 24
        public static let crossAttentionK = 64
        public static let hashGroups = 64
        public static let hashGroupSize = 64
        public static let hashVocabulary = 1 << 26
    }

    private static func transformer(_ json: JSONFields, hidden: Int, layers: Int, heads: Int, intermediate: Int?,
                                    maxPositions: Int, theta: Double, window: Int?) throws -> TransformerConfig {
        let hiddenSize = try json.int("hidden_size", default: hidden)
        let headCount = try json.int("num_attention_heads", default: heads)
        let kvHeads = try json.optionalInt("num_key_value_heads") ?? headCount
        // transformers falls back to int(8·hidden/3) when intermediate_size is null.
        let intermediateSize = try json.optionalInt("intermediate_size", default: intermediate) ?? (8 * hiddenSize / 3)
        var ropeTheta = try json.optionalDouble("rope_theta") ?? theta
        if case .object(let rope) = json.raw["rope_parameters"] ?? .null {
            let ropeFields = JSONFields(rope, path: json.path + "rope_parameters.")
            if let type = try ropeFields.string("rope_type", default: "default"), type != "default" {
                throw BLTError.configInvalid(field: ropeFields.path + "rope_type", reason: "is '\(type)'; only the default RoPE is supported")
            }
            ropeTheta = try ropeFields.optionalDouble("rope_theta") ?? ropeTheta
        }
        guard (1...Limits.hidden).contains(hiddenSize) else {
            throw BLTError.configInvalid(field: json.path + "hidden_size", reason: "is \(hiddenSize), outside the supported range 1…\(Limits.hidden)")
        }
        guard (1...Limits.heads).contains(headCount) else {
            throw BLTError.configInvalid(field: json.path + "num_attention_heads", reason: "is \(headCount), outside the supported range 1…\(Limits.heads)")
        }
        guard hiddenSize % headCount == 0 else {
            throw BLTError.configInvalid(field: json.path + "num_attention_heads", reason: "(\(headCount)) must divide hidden_size (\(hiddenSize))")
        }
        guard kvHeads > 0, headCount % kvHeads == 0 else {
            throw BLTError.configInvalid(field: json.path + "num_key_value_heads", reason: "(\(kvHeads)) must divide num_attention_heads (\(headCount))")
        }
        guard (hiddenSize / headCount) % 2 == 0 else {
            throw BLTError.configInvalid(field: json.path + "num_attention_heads", reason: "gives an odd head dimension; RoPE needs pairs")
        }
        if let w = window, w < 1 {
            throw BLTError.configInvalid(field: json.path + "sliding_window", reason: "must be positive or null")
        }
        return TransformerConfig(
            hiddenSize: hiddenSize, layerCount: try json.int("num_hidden_layers", default: layers),
            headCount: headCount, keyValueHeadCount: kvHeads, intermediateSize: intermediateSize,
            normEpsilon: Float(try json.double("rms_norm_eps", default: 1e-5)), ropeTheta: ropeTheta,
            slidingWindow: window, maxPositions: try json.int("max_position_embeddings", default: maxPositions))
    }
}

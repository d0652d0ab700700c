import ByteLatent
import Foundation
import Safetensors
import JSONSupport

/// Mapping rules from the original BLT checkpoint (`facebook/blt-1b` hub layout) to the
/// Hugging Face `transformers` BLT layout.
///
/// The config merge follows `transformers/models/blt/convert_blt_weights_to_hf.py` field by field
/// and then completes it (see `completeConfig`). Tensor names follow the same script: substring
/// renames, `local_decoder.output` → top-level `lm_head`, a `model.` prefix, the entropy model under
/// `model.patcher.`, and the per-(function, group-size) hash tables fused row-wise.
public enum HubLayout {
    // MARK: config

    /// Substring renames, applied in this order to `"." + name` (as the upstream script does).
    public static let renames: [(String, String)] = [
        (".attention.", ".self_attn."), (".feed_forward.", ".mlp."), (".attention_norm.", ".input_layernorm."),
        (".ffn_norm.", ".post_attention_layernorm."), (".tok_embeddings.", ".embed_tokens."),
        (".cross_attn_norm_q.", ".q_norm."), (".cross_attn_norm_kv.", ".k_norm."), (".w1.", ".gate_proj."),
        (".w2.", ".down_proj."), (".w3.", ".up_proj."), (".wq.", ".q_proj."), (".wk.", ".k_proj."),
        (".wv.", ".v_proj."), (".wo.", ".o_proj."), (".output.", ".lm_head."),
    ]

    /// The HF name of an original main-model tensor, or of an entropy-model tensor when `entropy`.
    /// Hash tables (`encoder_hash_tok_embedding.N.weight`) all map to the fused table.
    public static func hfName(original: String, entropy: Bool) -> String {
        if !entropy, isHashTable(original) != nil { return "model.encoder_hash_tok_embedding.weight" }
        var key = entropy ? "patcher." + original : original
        for (old, new) in renames where key.contains(old) {
            key = key.replacingOccurrences(of: old, with: new)
        }
        if key == "local_decoder.lm_head.weight" { return "lm_head.weight" }
        return key.hasPrefix("model.") ? key : "model." + key
    }

    /// The table index of `encoder_hash_tok_embedding.N.weight`, nil for other names.
    public static func isHashTable(_ name: String) -> Int? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "encoder_hash_tok_embedding", parts[2] == "weight" else { return nil }
        return Int(parts[1])
    }

    /// The upstream script's FFN size rule: `int(8·dim/3)` rounded up to `multipleOf`.
    /// Out-of-range inputs give 0 (the size then has to come from the tensors).
    public static func ffnRule(_ dim: Int, _ multipleOf: Int) -> Int {
        guard multipleOf > 0, multipleOf < 1 << 30, dim >= 0, dim < 1 << 40 else { return 0 }
        let h = Int(8.0 * Double(dim) / 3.0)
        return multipleOf * ((h + multipleOf - 1) / multipleOf)
    }

    /// Python's `d.get(key, default)`: a present `null` stays `null`.
    static func get(_ o: JSONValue?, _ key: String, _ dflt: JSONValue) -> JSONValue { o?[key] ?? dflt }

    /// Python truthiness for `a or b`.
    static func truthy(_ v: JSONValue) -> Bool {
        switch v {
        case .null: return false
        case let .bool(b): return b
        case let .number(n): return n.double != 0
        case let .string(s): return !s.isEmpty
        case let .array(a): return !a.isEmpty
        case let .object(o): return !o.isEmpty
        }
    }

    /// `int(x)` of a JSON number (floats truncate, like Python).
    static func pyInt(_ v: JSONValue, _ what: String, path: String) throws -> JSONValue {
        switch v {
        case let .number(n) where n.int != nil: return v
        case let .number(n) where n.double.isFinite && abs(n.double) < 9e18: return .int(Int(n.double))
        case let .string(s) where Int(s) != nil: return .int(Int(s)!)
        default: throw ConvertError.badJSON(path: path, reason: "\(what) must be a number, found \(v)")
        }
    }

    /// The transformers `BltConfig` (as JSON) implied by the original arguments.
    ///
    /// - `args`: `config.json → args` (ByteLatentTransformerArgs).
    /// - `entropyArgs`: the entropy model's LMTransformerArgs (`params.json → entropy_model`, or
    ///   `config.json → args` in the `facebook/blt-entropy` layout).
    /// - `patcherArgs`: `train_args.json → data.patcher_args` when present, else `params.json`'s.
    /// - `intermediate`: FFN sizes read from the tensors (`w1` rows), keyed by sub-config name.
    package static func makeConfig(args: JSONValue, entropyArgs: JSONValue, patcherArgs: JSONValue,
                                  intermediate: [String: Int], path: String) throws -> JSONValue {
        let a = args, e = entropyArgs, pa = patcherArgs
        func g(_ k: String, _ d: JSONValue) -> JSONValue { get(a, k, d) }
        func ge(_ k: String, _ d: JSONValue) -> JSONValue { get(e, k, d) }
        func int(_ v: JSONValue, _ what: String) throws -> Int {
            guard let i = try pyInt(v, what, path: path).intValue else {
                throw ConvertError.badJSON(path: path, reason: "\(what) must be an integer")
            }
            return i
        }

        var patchSize = get(pa, "patch_size", .int(8))
        if case let .number(n) = patchSize, n.int == nil {
            let d = n.double
            guard d.isFinite, abs(d) < 9e18 else { throw ConvertError.badJSON(path: path, reason: "patch_size \(d) is out of range") }
            patchSize = .int(Int(d))
        }

        let pDim = try int(ge("dim", .int(512)), "entropy_model.dim")
        var patcher: [(String, JSONValue)] = [
            ("vocab_size", try pyInt(ge("vocab_size", .int(256)), "entropy_model.vocab_size", path: path)),
            ("hidden_size", .int(pDim)),
            ("num_hidden_layers", try pyInt(ge("n_layers", .int(8)), "entropy_model.n_layers", path: path)),
            ("num_attention_heads", try pyInt(ge("n_heads", .int(8)), "entropy_model.n_heads", path: path)),
            ("num_key_value_heads", ge("n_kv_heads", .null).isNull ? .null
                : try pyInt(ge("n_kv_heads", .null), "entropy_model.n_kv_heads", path: path)),
            ("max_position_embeddings", try pyInt(ge("max_seqlen", .int(1024)), "entropy_model.max_seqlen", path: path)),
            ("norm_eps", ge("norm_eps", .double(1e-5))),
            ("dropout", ge("dropout", .double(0))),
            ("rope_theta", ge("rope_theta", .double(10000))),
            ("attn_impl", ge("attn_impl", .string("sdpa"))),
            ("attn_bias_type", ge("attn_bias_type", .string("causal"))),
            ("intermediate_size", .int(ffnRule(pDim, try int(ge("multiple_of", .int(256)), "entropy_model.multiple_of")))),
        ]
        _ = patcher

        func local(_ prefix: String, layers: Int, allLayers: Bool) throws -> [(String, JSONValue)] {
            let dimV = g("dim_local_\(prefix)", .int(1024))
            var c: [(String, JSONValue)] = [
                ("vocab_size", g("vocab_size", .int(256))),
                ("cross_attn_all_layers", g("cross_attn_all_layers_\(prefix)", .bool(allLayers))),
                ("cross_attn_k", g("cross_attn_k", .int(2))),
                ("hidden_size_global", g("dim_global", .int(2048))),
            ]
            if prefix == "encoder" { c.append(("pm_size", g("pm_size", .int(0)))) }
            let maxPos = truthy(g("max_encoder_seq_length", .null)) ? g("max_encoder_seq_length", .null) : g("max_seqlen", .int(1024))
            c += [
                ("hidden_size", dimV),
                ("num_attention_heads", g("n_heads_local_\(prefix)", .int(16))),
                ("num_key_value_heads", g("n_kv_heads", .null)),
                ("num_hidden_layers", g("n_layers_local_\(prefix)", .int(layers))),
                ("norm_eps", g("norm_eps", .double(1e-5))),
                ("dropout", g("dropout", .double(0))),
                ("max_position_embeddings", maxPos),
                ("rope_theta", g("rope_theta", .double(10000))),
                ("rope_scaling", .object([("rope_type", .string("default"))])),
                ("hidden_act", g("hidden_act", .string("silu"))),
                ("_attn_implementation", g("_attn_implementation", .string("sdpa"))),
                ("intermediate_size", .int(ffnRule(try int(dimV, "dim_local_\(prefix)"), try int(g("multiple_of", .int(256)), "multiple_of")))),
            ]
            return c
        }
        let encoder = try local("encoder", layers: 1, allLayers: false)
        let decoder = try local("decoder", layers: 9, allLayers: false)
        let gDimV = g("dim_global", .int(2048))
        let global: [(String, JSONValue)] = [
            ("hidden_size", gDimV),
            ("num_attention_heads", g("n_heads_global", .int(16))),
            ("num_key_value_heads", g("n_kv_heads_global", .null)),
            ("num_hidden_layers", g("n_layers_global", .int(25))),
            ("norm_eps", g("norm_eps", .double(1e-5))),
            ("dropout", g("dropout", .double(0))),
            ("max_position_embeddings", g("max_seqlen", .int(1024))),
            ("rope_theta", g("rope_theta", .double(10000))),
            ("rope_scaling", .object([("rope_type", .string("default"))])),
            ("hidden_act", g("hidden_act", .string("silu"))),
            ("_attn_implementation", g("_attn_implementation", .string("sdpa"))),
            ("intermediate_size", .int(ffnRule(try int(gDimV, "dim_global"), try int(g("multiple_of", .int(256)), "multiple_of")))),
        ]

        // Completion (what the upstream script leaves out; documented in Docs/convert.md):
        // windows, transformers-5 names, intermediate sizes from the tensors.
        var subs: [(String, [(String, JSONValue)])] = [
            ("patcher_config", patcher), ("encoder_config", encoder), ("decoder_config", decoder), ("global_config", global),
        ]
        for i in subs.indices {
            var c = JSONValue.object(subs[i].1)
            if subs[i].0 == "patcher_config" {
                let w = ge("sliding_window", .null)
                c.set("sliding_window", truthy(w) ? w : .int(512))
            }
            c.set("rms_norm_eps", c["norm_eps"] ?? .double(1e-5))
            c.set("rope_parameters", .object([("rope_type", .string("default")), ("rope_theta", c["rope_theta"] ?? .double(10000))]))
            if let n = intermediate[subs[i].0] { c.set("intermediate_size", .int(n)) }
            subs[i].1 = c.objectItems ?? []
        }
        patcher = subs[0].1

        var top: [(String, JSONValue)] = [
            ("model_type", .string("blt")),
            ("vocab_size", g("vocab_size", .int(256))),
            ("max_position_embeddings", g("max_seqlen", .int(1024))),
            ("patch_in_forward", .bool(true)),
            ("realtime_patching", .bool(true)),
            ("patching_mode", .string("entropy")),
            ("patch_size", patchSize),
            ("patching_threshold", get(pa, "threshold", .double(0.5))),
            // The official PatcherArgs default is None (plain entropy patching), not 0.
            ("patching_threshold_add", get(pa, "threshold_add", .null)),
            ("max_patch_length", get(pa, "max_patch_length", .null)),
            ("patching_batch_size", get(pa, "patching_batch_size", .int(1))),
            ("patching_device", get(pa, "patching_device", .string("cuda"))),
            ("monotonicity", get(pa, "monotonicity", .bool(false))),
            ("cross_attn_k", g("cross_attn_k", .int(2))),
            ("encoder_hash_byte_group_size", g("encoder_hash_byte_group_size", .null)),
            ("encoder_hash_byte_group_vocab", g("encoder_hash_byte_group_vocab", .int(30000))),
            ("encoder_hash_byte_group_nb_functions", g("encoder_hash_byte_group_nb_functions", .int(3))),
            ("pm_size", g("pm_size", .int(0))),
        ]
        for (k, v) in subs { top.append((k, .object(v))) }
        top += [
            ("tie_word_embeddings", .bool(false)),
            ("architectures", .array([.string("BltForCausalLM")])),
            ("use_cache", .bool(false)),
            ("local_attention_window_len", g("local_attention_window_len", .int(512))),
        ]
        return .object(top)
    }

    // MARK: expected tensors

    /// Figures of one sub-config that the tensor shapes depend on.
    struct Block {
        let dim: Int, heads: Int, kvHeads: Int, layers: Int, ffn: Int
        init(_ c: JSONValue?, _ what: String, path: String) throws {
            func int(_ k: String) throws -> Int {
                guard let v = c?[k]?.intValue else {
                    throw ConvertError.badJSON(path: path, reason: "\(what).\(k) must be an integer")
                }
                return v
            }
            dim = try int("hidden_size")
            heads = try int("num_attention_heads")
            kvHeads = c?["num_key_value_heads"]?.intValue ?? heads
            layers = try int("num_hidden_layers")
            ffn = try int("intermediate_size")
            let limit = 1 << 24 // far above any real model; keeps every shape product in range
            // Layers bounded like BLTConfig's: the tensor list grows with them, before any check.
            guard dim > 0, heads > 0, kvHeads > 0, dim % heads == 0, layers >= 0, ffn > 0,
                  dim < limit, heads < limit, kvHeads < limit, layers <= BLTConfig.Limits.layers, ffn < limit else {
                throw ConvertError.badJSON(path: path, reason: "\(what): inconsistent sizes (hidden \(dim), heads \(heads), kv heads \(kvHeads))")
            }
        }
        var kvDim: Int { kvHeads * (dim / heads) }
    }

    static func transformerLayers(_ prefix: String, _ b: Block, into out: inout [(String, [Int])]) {
        for i in 0..<b.layers {
            let p = "\(prefix)layers.\(i)."
            out += [
                (p + "attention_norm.weight", [b.dim]),
                (p + "attention.wq.weight", [b.dim, b.dim]),
                (p + "attention.wk.weight", [b.kvDim, b.dim]),
                (p + "attention.wv.weight", [b.kvDim, b.dim]),
                (p + "attention.wo.weight", [b.dim, b.dim]),
                (p + "ffn_norm.weight", [b.dim]),
                (p + "feed_forward.w1.weight", [b.ffn, b.dim]),
                (p + "feed_forward.w3.weight", [b.ffn, b.dim]),
                (p + "feed_forward.w2.weight", [b.dim, b.ffn]),
            ]
        }
    }

    static func crossLayers(_ prefix: String, _ b: Block, count: Int, into out: inout [(String, [Int])]) {
        for j in 0..<count {
            let p = "\(prefix)cross_attn_layers.\(j)."
            out += [
                (p + "cross_attn_norm_q.weight", [b.dim]),
                (p + "cross_attn_norm_kv.weight", [b.dim]),
                (p + "wq.weight", [b.dim, b.dim]),
                (p + "wk.weight", [b.kvDim, b.dim]),
                (p + "wv.weight", [b.kvDim, b.dim]),
                (p + "wo.weight", [b.dim, b.dim]),
            ]
        }
    }

    /// The original-name tensors (main model, entropy model) and shapes a HF config implies.
    package static func expectedOriginalTensors(config c: JSONValue, path: String) throws
        -> (main: [(String, [Int])], entropy: [(String, [Int])])
    {
        let enc = try Block(c["encoder_config"], "encoder_config", path: path)
        let dec = try Block(c["decoder_config"], "decoder_config", path: path)
        let glo = try Block(c["global_config"], "global_config", path: path)
        let pat = try Block(c["patcher_config"], "patcher_config", path: path)
        func int(_ v: JSONValue?, _ what: String) throws -> Int {
            guard let i = v?.intValue, i >= 0, i < 1 << 31 else {
                throw ConvertError.badJSON(path: path, reason: "\(what) must be a non-negative integer below 2^31")
            }
            return i
        }
        let vocab = try int(c["vocab_size"], "vocab_size")
        let pVocab = try int(c["patcher_config"]?["vocab_size"], "patcher_config.vocab_size")
        let k = try int(c["cross_attn_k"], "cross_attn_k")
        let hashVocab = try int(c["encoder_hash_byte_group_vocab"], "encoder_hash_byte_group_vocab")
        let nbFunctions = try int(c["encoder_hash_byte_group_nb_functions"], "encoder_hash_byte_group_nb_functions")
        var groups = 6
        if case let .array(a)? = c["encoder_hash_byte_group_size"] { groups = a.count }
        guard nbFunctions * groups < 1 << 16 else {
            throw ConvertError.badJSON(path: path, reason: "encoder_hash_byte_group_nb_functions × group sizes is out of range")
        }
        let encAll = c["encoder_config"]?["cross_attn_all_layers"]?.boolValue ?? false
        let decAll = c["decoder_config"]?["cross_attn_all_layers"]?.boolValue ?? false

        var main: [(String, [Int])] = []
        for i in 0..<(nbFunctions * groups) { main.append(("encoder_hash_tok_embedding.\(i).weight", [hashVocab, enc.dim])) }
        main.append(("local_encoder.tok_embeddings.weight", [vocab, enc.dim]))
        transformerLayers("local_encoder.", enc, into: &main)
        main.append(("local_encoder.patch_embedding_projection.weight", [k * enc.dim, enc.dim]))
        crossLayers("local_encoder.", enc, count: encAll ? enc.layers : 1, into: &main)
        if k * enc.dim != glo.dim {
            main.append(("global_transformer.token_embedding_projection.weight", [glo.dim, k * enc.dim]))
        }
        transformerLayers("global_transformer.", glo, into: &main)
        main.append(("local_decoder.patch_embedding_projection.weight", [k * dec.dim, glo.dim]))
        crossLayers("local_decoder.", dec, count: decAll ? dec.layers : 1, into: &main)
        transformerLayers("local_decoder.", dec, into: &main)
        main.append(("local_decoder.norm.weight", [dec.dim]))
        main.append(("local_decoder.output.weight", [vocab, dec.dim]))

        var entropy: [(String, [Int])] = [("tok_embeddings.weight", [pVocab, pat.dim])]
        transformerLayers("", pat, into: &entropy)
        entropy.append(("norm.weight", [pat.dim]))
        entropy.append(("output.weight", [pVocab, pat.dim]))
        return (main, entropy)
    }

    // MARK: tokenizer (hf-reference §7)

    /// GPT-2's byte → printable character table used by the ByteLevel pre-tokenizer.
    public static func byteLevelAlphabet() -> [Character] {
        var bs = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) {
            bs.append(b)
            cs.append(256 + n)
            n += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }

    static let specialTokens = ["<boe>", "<s>", "</s>", "<pad>"]

    /// `tokenizer.json`: ByteLevel BPE without merges, `<boe>`=0 `<s>`=1 `</s>`=2 `<pad>`=3, byte b → b+4,
    /// a post-processor that prepends `<s>`.
    package static func tokenizerJSON() -> JSONValue {
        let alphabet = byteLevelAlphabet()
        var vocab: [(String, JSONValue)] = specialTokens.enumerated().map { ($1, .int($0)) }
        for b in 0..<256 { vocab.append((String(alphabet[b]), .int(b + 4))) }
        let byteLevel = JSONValue.object([
            ("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)),
            ("trim_offsets", .bool(true)), ("use_regex", .bool(false)),
        ])
        func special(_ id: String) -> JSONValue { .object([("SpecialToken", .object([("id", .string(id)), ("type_id", .int(0))]))]) }
        func seq(_ id: String, _ t: Int) -> JSONValue { .object([("Sequence", .object([("id", .string(id)), ("type_id", .int(t))]))]) }
        return .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(specialTokens.enumerated().map { i, s in
                .object([("id", .int(i)), ("content", .string(s)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                         ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(true))])
            })),
            ("normalizer", .null),
            ("pre_tokenizer", byteLevel),
            ("post_processor", .object([
                ("type", .string("TemplateProcessing")),
                ("single", .array([special("<s>"), seq("A", 0)])),
                ("pair", .array([special("<s>"), seq("A", 0), seq("B", 1)])),
                ("special_tokens", .object([("<s>", .object([
                    ("id", .string("<s>")), ("ids", .array([.int(1)])), ("tokens", .array([.string("<s>")])),
                ]))])),
            ])),
            ("decoder", byteLevel),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
                ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
                ("ignore_merges", .bool(false)), ("vocab", .object(vocab)), ("merges", .array([])),
            ])),
        ])
    }

    /// `tokenizer_config.json` for `PreTrainedTokenizerFast`.
    package static func tokenizerConfigJSON(config: JSONValue) -> JSONValue {
        .object([
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
            ("bos_token", .string("<s>")),
            ("eos_token", .string("</s>")),
            ("pad_token", .string("<pad>")),
            ("add_bos_token", .bool(true)),
            ("add_eos_token", .bool(false)),
            ("clean_up_tokenization_spaces", .bool(false)),
            ("model_max_length", config["encoder_config"]?["max_position_embeddings"] ?? .int(24576)),
        ])
    }
}

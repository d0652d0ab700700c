import ByteLatent
import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif
import JSONSupport

/// What `blt inspect` reports about a checkpoint.
public struct CheckpointReport {
    public enum Format: String {
        case hub = "hub (original BLT layout)"
        case transformers = "transformers BLT"
        case entropyOnly = "entropy model only"
    }

    public let path: String
    public let format: Format
    /// Tensor count per dtype ("BF16": 513).
    public let dtypes: [(String, Int)]
    public let tensorCount: Int
    public let totalParameters: Int
    public let totalBytes: Int
    /// Parameters per component, in a fixed order.
    public let components: [(String, Int)]
    /// Key figures of the (transformers) config.
    package let figures: [(String, JSONValue)]

    package var json: JSONValue {
        .object([
            ("path", .string(path)),
            ("format", .string(format.rawValue)),
            ("dtypes", .object(dtypes.map { ($0.0, .int($0.1)) })),
            ("tensors", .int(tensorCount)),
            ("parameters", .int(totalParameters)),
            ("bytes", .int(totalBytes)),
            ("components", .object(components.map { ($0.0, .int($0.1)) })),
            ("config", .object(figures)),
        ])
    }
}

public enum Inspector {
    static let componentOrder = ["hash tables", "encoder", "global", "decoder", "entropy model", "other"]

    /// Component of a tensor name in either naming (entropy tensors are passed with `entropy`).
    static func component(_ name: String, entropy: Bool) -> String {
        if entropy || name.hasPrefix("model.patcher.") || name.hasPrefix("patcher.") { return "entropy model" }
        let n = name.hasPrefix("model.") ? String(name.dropFirst(6)) : name
        if n.hasPrefix("encoder_hash_tok_embedding") { return "hash tables" }
        if n.hasPrefix("local_encoder.") { return "encoder" }
        if n.hasPrefix("global_transformer.") { return "global" }
        if n.hasPrefix("local_decoder.") || n == "lm_head.weight" { return "decoder" }
        return "other"
    }

    static func figures(_ c: JSONValue) -> [(String, JSONValue)] {
        var f: [(String, JSONValue)] = []
        for (label, key) in [("encoder", "encoder_config"), ("global", "global_config"), ("decoder", "decoder_config"), ("entropy", "patcher_config")] {
            guard let s = c[key] else { continue }
            var o: [(String, JSONValue)] = []
            for k in ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size", "max_position_embeddings"] {
                if let v = s[k] { o.append((k, v)) }
            }
            if let t = s["rope_parameters"]?["rope_theta"] ?? s["rope_theta"] { o.append(("rope_theta", t)) }
            if let w = s["sliding_window"] { o.append(("sliding_window", w)) }
            f.append((label, .object(o)))
        }
        for k in ["vocab_size", "cross_attn_k", "encoder_hash_byte_group_size", "encoder_hash_byte_group_vocab",
                  "encoder_hash_byte_group_nb_functions", "patching_mode", "patching_threshold", "max_patch_length",
                  "patch_size", "local_attention_window_len"] {
            if let v = c[k] { f.append((k, v)) }
        }
        return f
    }

    static func entropyFigures(_ a: JSONValue) -> [(String, JSONValue)] {
        var o: [(String, JSONValue)] = []
        for k in ["dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seqlen", "rope_theta", "sliding_window", "attn_bias_type"] {
            if let v = a[k] { o.append((k, v)) }
        }
        return [("entropy", .object(o))]
    }

    /// The tensors a transformers BLT config implies (the converter's output names and shapes)
    /// against those present: a checkpoint that `blt eval` would refuse for a missing or misshapen
    /// tensor is refused here too.
    static func checkTensors(_ views: [TensorView], config: JSONValue, configPath: String) throws {
        // A config the hub rules cannot read (a field they need but transformers defaults) is not
        // checked here; BLTConfig has already validated it.
        guard let expected = try? HubLayout.expectedOriginalTensors(config: config, path: configPath) else { return }
        var want: [String: [Int]] = [:]
        var hashRows = 0, hashWidth = 0
        for (name, shape) in expected.main {
            if HubLayout.isHashTable(name) != nil { hashRows += shape[0]; hashWidth = shape[1]; continue }
            want[HubLayout.hfName(original: name, entropy: false)] = shape
        }
        if hashRows > 0 { want["model.encoder_hash_tok_embedding.weight"] = [hashRows, hashWidth] }
        for (name, shape) in expected.entropy { want[HubLayout.hfName(original: name, entropy: true)] = shape }
        let present = Dictionary(views.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        // Extra tensors are not an error: the model loader ignores them too.
        let missing = want.keys.filter { present[$0] == nil }.sorted()
        if !missing.isEmpty { throw ConvertError.tensorSetMismatch(missing: missing, unexpected: []) }
        for (name, shape) in want.sorted(by: { $0.key < $1.key }) where present[name] != shape {
            throw ConvertError.wrongShape(name: name, expected: shape, actual: present[name] ?? [])
        }
    }

    public static func inspect(path: String) throws -> CheckpointReport {
        var tensors: [(TensorView, Bool)] = []
        var format: CheckpointReport.Format
        var figs: [(String, JSONValue)] = []
        var root = path
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFDIR, info.st_mode & S_IFMT != S_IFREG {
            // Opening a FIFO would block until a writer appears; a device could be endless.
            throw ConvertError.io(path: path, reason: "not a regular file or directory (a FIFO, device or socket); pass a checkpoint directory or a .safetensors/.pth file")
        }
        if fileExists(path, directory: false) {
            // A bare weights file: .pth (entropy model) or safetensors.
            root = PathNames.split(path).parent
            if path.hasSuffix(".pth") {
                format = .entropyOnly
                tensors = try TorchCheckpoint(path: path).tensors.map { ($0, true) }
            } else {
                let views = try safetensorsViews(path: path)
                let hf = views.contains { $0.name.hasPrefix("model.") }
                let hub = views.contains { $0.name.hasPrefix("local_encoder.") }
                format = hf ? .transformers : hub ? .hub : .entropyOnly
                tensors = views.map { ($0, format == .entropyOnly) }
            }
            if let c = try? JSONValue.read(path: join(root, "config.json")), c["model_type"]?.stringValue == "blt" { figs = figures(c) }
        } else if HubCheckpoint.isHubDirectory(path) {
            let hub = try HubCheckpoint.open(path)
            format = .hub
            tensors = hub.tensors.map { ($0, false) } + hub.entropy.tensors.map { ($0, true) }
            figs = figures(try hub.hfConfig())
        } else if let c = try? JSONValue.read(path: join(path, "config.json")), c["model_type"]?.stringValue == "blt" {
            format = .transformers
            // The checks `blt eval` makes on the config, so inspect never calls a bad checkpoint fine.
            do { _ = try BLTConfig(contentsOf: join(path, "config.json")) } catch let error as BLTError {
                throw ConvertError.badJSON(path: join(path, "config.json"), reason: "\(error); `blt eval` would refuse this checkpoint")
            }
            let views = try safetensorsViews(path: path)
            try checkTensors(views, config: c, configPath: join(path, "config.json"))
            tensors = views.map { ($0, false) }
            figs = figures(c)
        } else if fileExists(join(path, "params.json")) || fileExists(join(path, "config.json")) {
            let e = try EntropyModelSource.open(directory: path)
            format = .entropyOnly
            tensors = e.tensors.map { ($0, true) }
            figs = entropyFigures(e.args)
        } else {
            throw ConvertError.unknownLayout(path: path, reason: "expected a hub checkpoint (config.json with \"args\"), a transformers BLT directory (config.json with model_type \"blt\"), an entropy model directory, or a .safetensors/.pth file")
        }
        var dtypeCounts: [String: Int] = [:]
        var comp: [String: Int] = [:]
        var params = 0, bytes = 0
        for (t, entropy) in tensors {
            dtypeCounts[t.dtype.rawValue, default: 0] += 1
            comp[component(t.name, entropy: entropy), default: 0] += t.elementCount
            params += t.elementCount
            bytes += t.byteCount
        }
        return CheckpointReport(
            path: path, format: format,
            dtypes: dtypeCounts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            tensorCount: tensors.count, totalParameters: params, totalBytes: bytes,
            components: componentOrder.compactMap { k in comp[k].map { (k, $0) } },
            figures: figs)
    }
}

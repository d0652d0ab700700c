import ByteLatent
import Foundation
import Safetensors
import JSONSupport

func join(_ dir: String, _ name: String) -> String { dir.hasSuffix("/") ? dir + name : dir + "/" + name }

func fileExists(_ path: String, directory: Bool? = nil) -> Bool {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return false }
    if let directory { return isDir.boolValue == directory }
    return true
}

/// Opens a safetensors checkpoint and exposes its tensors as `TensorView`s.
func safetensorsViews(path: String) throws -> [TensorView] {
    do {
        let ck = try SafetensorsCheckpoint(path: path)
        return try ck.names.map { name in
            let t = try ck.tensor(name)
            return TensorView(name: name, dtype: t.dtype, shape: t.shape, bytes: t.bytes, owner: ck)
        }
    } catch let e as SafetensorsError {
        throw ConvertError.safetensors(e.description)
    }
}

/// The entropy model (patcher) of a BLT checkpoint: `params.json` + `consolidated.pth`
/// (`facebook/blt`, `facebook/blt-1b`) or `config.json` + `model.safetensors` (`facebook/blt-entropy`).
public struct EntropyModelSource {
    public let directory: String
    /// LMTransformerArgs.
    package let args: JSONValue
    /// `params.json → data.patcher_args`, if any.
    package let patcherArgs: JSONValue?
    public let weightsPath: String
    public let tensors: [TensorView]

    public static func open(directory: String) throws -> EntropyModelSource {
        guard fileExists(directory, directory: true) else { throw ConvertError.missingEntropyModel(path: directory) }
        var args: JSONValue?
        var patcherArgs: JSONValue?
        let params = join(directory, "params.json"), config = join(directory, "config.json")
        if fileExists(params) {
            let p = try readJSON(path: params)
            args = p["entropy_model"].flatMap { $0.isNull ? nil : $0 } ?? p["model"].flatMap { $0.isNull ? nil : $0 }
            patcherArgs = p["data"]?["patcher_args"]
            guard args != nil else { throw ConvertError.badJSON(path: params, reason: "no \"entropy_model\" arguments") }
        } else if fileExists(config) {
            let c = try readJSON(path: config)
            guard let a = c["args"] else { throw ConvertError.badJSON(path: config, reason: "no \"args\" object") }
            args = a
        } else {
            throw ConvertError.missingEntropyModel(path: directory)
        }
        let candidates = ["consolidated.pth", "consolidated/consolidated.pth", "model.safetensors", "model.safetensors.index.json"]
        guard let file = candidates.map({ join(directory, $0) }).first(where: { fileExists($0) }) else {
            throw ConvertError.missingEntropyModel(path: directory)
        }
        let tensors = file.hasSuffix(".pth") ? try TorchCheckpoint(path: file).tensors : try safetensorsViews(path: file)
        return EntropyModelSource(directory: directory, args: args!, patcherArgs: patcherArgs, weightsPath: file, tensors: tensors)
    }
}

/// A checkpoint in the `facebook/blt-1b` / `facebook/blt-7b` hub layout.
public struct HubCheckpoint {
    public let root: String
    /// `config.json → args` (ByteLatentTransformerArgs).
    package let args: JSONValue
    /// `train_args.json`, when present.
    package let trainArgs: JSONValue?
    public let entropy: EntropyModelSource
    public let tensors: [TensorView]

    /// Patcher arguments: `train_args.json → data.patcher_args`, else the entropy model's params.
    package var patcherArgs: JSONValue {
        if let p = trainArgs?["data"]?["patcher_args"], !p.isNull { return p }
        return entropy.patcherArgs ?? .object([])
    }

    public static func isHubDirectory(_ path: String) -> Bool {
        guard let c = try? readJSON(path: join(path, "config.json")), let a = c["args"] else { return false }
        return a["dim_global"] != nil || a["dim_local_encoder"] != nil
    }

    public static func open(_ root: String) throws -> HubCheckpoint {
        guard fileExists(root, directory: true) else {
            throw ConvertError.io(path: root, reason: "not a directory (expected a hub checkpoint folder with config.json, model.safetensors and entropy_model/)")
        }
        let configPath = join(root, "config.json")
        var info = stat()
        if stat(configPath, &info) != 0 {
            let code = errno
            guard code == ENOENT else { throw ConvertError.io(path: configPath, reason: "cannot read it: \(FileReadFailure(errno: code).reason)") }
            throw ConvertError.unknownLayout(path: root, reason: "no config.json")
        }
        let config = try readJSON(path: configPath)
        guard let args = config["args"], args.objectItems != nil else {
            if config["model_type"]?.stringValue == "blt" {
                throw ConvertError.unknownLayout(path: root, reason: "this is already a transformers BLT checkpoint (model_type \"blt\"); nothing to convert")
            }
            throw ConvertError.badJSON(path: configPath, reason: "expected {\"args\": {...}} (the original BLT arguments of the facebook/blt-1b hub layout)")
        }
        var trainArgs: JSONValue?
        let trainPath = join(root, "train_args.json")
        if fileExists(trainPath) { trainArgs = try readJSON(path: trainPath) }
        let weights = ["model.safetensors.index.json", "model.safetensors"].map { join(root, $0) }.first(where: { fileExists($0) })
        guard let weights else {
            throw ConvertError.unknownLayout(path: root, reason: "no model.safetensors next to config.json")
        }
        let entropy = try EntropyModelSource.open(directory: join(root, "entropy_model"))
        let tensors = try safetensorsViews(path: weights)
        return HubCheckpoint(root: root, args: args, trainArgs: trainArgs, entropy: entropy, tensors: tensors)
    }

    /// FFN sizes from the first layer's `w1` of each component.
    public func intermediateSizes() -> [String: Int] {
        var out: [String: Int] = [:]
        for (key, prefix) in [("encoder_config", "local_encoder."), ("decoder_config", "local_decoder."), ("global_config", "global_transformer.")] {
            if let t = tensors.first(where: { $0.name == prefix + "layers.0.feed_forward.w1.weight" }), t.shape.count == 2 {
                out[key] = t.shape[0]
            }
        }
        if let t = entropy.tensors.first(where: { $0.name == "layers.0.feed_forward.w1.weight" }), t.shape.count == 2 {
            out["patcher_config"] = t.shape[0]
        }
        return out
    }

    /// The transformers config this checkpoint converts to.
    package func hfConfig() throws -> JSONValue {
        try HubLayout.makeConfig(args: args, entropyArgs: entropy.args, patcherArgs: patcherArgs,
                                 intermediate: intermediateSizes(), path: join(root, "config.json"))
    }
}

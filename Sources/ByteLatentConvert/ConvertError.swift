import ByteLatent
import Foundation
import Safetensors
import JSONSupport

/// Everything that can go wrong while reading a checkpoint or writing a converted one.
///
/// Each message names the file (and tensor, entry or opcode) involved and says what to do.
/// File content never traps: malformed input always ends in one of these.
public enum ConvertError: Error, CustomStringConvertible, Equatable {
    /// A file or directory could not be opened, read or mapped.
    case io(path: String, reason: String)
    /// A zip archive (a `.pth` checkpoint) is truncated or inconsistent.
    case corruptZip(path: String, reason: String)
    /// A bare-pickle `.pth` (torch < 1.6, or `_use_new_zipfile_serialization=False`).
    case legacyTorchFormat(path: String)
    /// A zip entry uses compression; `torch.save` writes stored entries only.
    case compressedZipEntry(path: String, entry: String, method: Int)
    /// A required zip entry is absent.
    case missingZipEntry(path: String, entry: String)
    /// The pickle references a global outside the allow-list (code execution refused).
    case forbiddenPickleGlobal(path: String, global: String)
    /// The pickle uses an opcode the restricted unpickler does not implement.
    case forbiddenPickleOpcode(path: String, opcode: UInt8, offset: Int)
    /// The pickle is truncated or structurally invalid.
    case malformedPickle(path: String, reason: String)
    /// A tensor in a `.pth` is not what `torch.save` of a dense state dict writes.
    case unsupportedTorchTensor(path: String, name: String, reason: String)
    /// A JSON file is missing, unreadable or lacks a required key.
    case badJSON(path: String, reason: String)
    /// The source directory does not look like any layout this tool understands.
    case unknownLayout(path: String, reason: String)
    /// The entropy model (patcher) of a hub checkpoint is missing.
    case missingEntropyModel(path: String)
    /// Tensors the config implies are absent, or tensors exist that it does not explain.
    case tensorSetMismatch(missing: [String], unexpected: [String])
    /// A tensor has a shape other than the one the config implies.
    case wrongShape(name: String, expected: [Int], actual: [Int])
    /// A tensor has a dtype the converter cannot write.
    case unsupportedDType(name: String, dtype: String)
    /// The destination exists and `--force` was not given.
    case destinationExists(path: String)
    /// Writing the destination could destroy data: it is, contains or lies in the source, or it holds
    /// something other than an earlier conversion.
    case unsafeDestination(path: String, reason: String)
    /// A safetensors file could not be read or written.
    case safetensors(String)
    /// The conversion was interrupted (SIGINT).
    case interrupted

    public var description: String {
        switch self {
        case let .io(path, reason):
            return "cannot access \(path): \(reason)"
        case let .corruptZip(path, reason):
            return "\(path) is not a valid zip archive (\(reason)); the .pth file is probably truncated or corrupt: download it again"
        case let .legacyTorchFormat(path):
            return "\(path) uses the legacy (pre-1.6, non-zip) torch.save format, which is not supported; re-save it with torch.save from torch >= 1.6"
        case let .compressedZipEntry(path, entry, method):
            return "\(path): entry \(entry) is compressed (method \(method)); only stored entries (as torch.save writes them) are supported: re-save the checkpoint with torch.save"
        case let .missingZipEntry(path, entry):
            return "\(path): entry \(entry) is missing; the checkpoint is incomplete"
        case let .forbiddenPickleGlobal(path, global):
            return "\(path): refusing to load: the pickle references the global `\(global)`, which is not part of a torch.save'd state dict (loading a checkpoint never runs code); convert it with trusted tools into safetensors"
        case let .forbiddenPickleOpcode(path, opcode, offset):
            return "\(path): refusing to load: pickle opcode 0x\(String(opcode, radix: 16)) at byte \(offset) is not allowed in a state dict"
        case let .malformedPickle(path, reason):
            return "\(path): malformed pickle: \(reason)"
        case let .unsupportedTorchTensor(path, name, reason):
            return "\(path): tensor \(name): \(reason)"
        case let .badJSON(path, reason):
            return "\(path): \(reason)"
        case let .unknownLayout(path, reason):
            return "\(path): unrecognised checkpoint layout: \(reason)"
        case let .missingEntropyModel(path):
            return "\(path): the entropy model is missing: expected entropy_model/params.json with entropy_model/consolidated.pth or entropy_model/model.safetensors (copy the entropy_model/ folder of the hub repository next to config.json)"
        case let .tensorSetMismatch(missing, unexpected):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing tensors (\(missing.count)): " + missing.joined(separator: ", ")) }
            if !unexpected.isEmpty { parts.append("unexpected tensors (\(unexpected.count)): " + unexpected.joined(separator: ", ")) }
            return "the checkpoint does not match its config: " + parts.joined(separator: "; ")
        case let .wrongShape(name, expected, actual):
            return "tensor \(name) has shape \(actual) but the config implies \(expected); the config and the weights do not belong together"
        case let .unsupportedDType(name, dtype):
            return "tensor \(name) has dtype \(dtype); only F32, BF16 and F16 floating-point weights can be converted"
        case let .destinationExists(path):
            return "\(path) already exists; allow replacing it (ConvertOptions.force) or choose another destination"
        case let .unsafeDestination(path, reason):
            return "refusing to write \(path): \(reason)"
        case let .safetensors(message):
            return message
        case .interrupted:
            return "interrupted; no output was written (the temporary directory was removed)"
        }
    }
}

/// Reads a JSON file, reporting problems as `ConvertError.badJSON`.
func readJSON(path: String) throws -> JSONValue {
    do { return try JSONValue.read(path: path) } catch let error as JSONError {
        throw ConvertError.badJSON(path: error.path, reason: error.reason)
    }
}

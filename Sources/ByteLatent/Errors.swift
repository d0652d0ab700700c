import Safetensors

/// Everything that can go wrong when loading or running a BLT model. Each message says what is
/// wrong and, where it can, what to do about it.
public enum BLTError: Error, CustomStringConvertible, Equatable {
    case modelDirectoryNotFound(String)
    case configUnreadable(path: String, reason: String)
    case configInvalid(field: String, reason: String)
    case unsupportedModelType(String)
    case missingTensor(name: String)
    case wrongShape(name: String, expected: [Int], found: [Int])
    case unsupportedDType(name: String, dtype: String)
    /// Reading the checkpoint's files failed: the `SafetensorsError` says what went wrong, `context`
    /// (possibly empty) what was being read.
    case checkpoint(SafetensorsError, context: String)
    case invalidInput(String)
    /// The model's logits at `position` (ids processed) hold NaN or infinity.
    case nonFiniteLogits(position: Int)

    public var description: String {
        switch self {
        case .modelDirectoryNotFound(let path):
            return "model directory '\(path)' does not exist; pass a directory holding config.json and model.safetensors (see `blt convert` for the original hub layout)"
        case .configUnreadable(let path, let reason):
            return "cannot read the model config '\(path)': \(reason)"
        case .configInvalid(let field, let reason):
            return "config.json: field '\(field)' \(reason)"
        case .unsupportedModelType(let type):
            return "config.json has model_type '\(type)', but this engine runs BLT checkpoints (model_type \"blt\"); for the original facebook/blt-1b layout run `blt convert` first"
        case .missingTensor(let name):
            return "the checkpoint has no tensor '\(name)', which the config requires; is the checkpoint complete and does config.json belong to it?"
        case .wrongShape(let name, let expected, let found):
            return "tensor '\(name)' has shape \(found) but the config implies \(expected); config.json and the weights do not match"
        case .unsupportedDType(let name, let dtype):
            return "tensor '\(name)' has dtype \(dtype); BLT weights must be F32, BF16 or F16"
        case .checkpoint(let error, let context):
            return context.isEmpty ? "\(error)" : "\(context): \(error)"
        case .invalidInput(let message):
            return message
        case .nonFiniteLogits(let position):
            return "the model produced NaN or infinite logits after \(position) ids; check the weights (e.g. with the parity tests)"
        }
    }
}

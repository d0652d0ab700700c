import ByteLatent

/// Options of an evaluation run.
public struct EvalOptions: Sendable {
    /// Ids per forward pass (BOS included); nil: `Evaluator.defaultWindow(for:)`.
    public var window: Int?
    /// Minimum history (document ids) of each target scored by a window after the first; 0 gives
    /// non-overlapping windows. See `WindowPlan`.
    public var context: Int
    /// How to patch; nil: the model's `patching` (config.json's rule unless `BLTModel.with(patching:)`).
    public var patching: PatchingScheme?
    /// Entropy threshold for patching (nats), overriding the scheme's; nil: the scheme's.
    public var threshold: Float?
    /// Append the EOS id (and score it as a target).
    public var addEOS: Bool
    /// Targets per chunk for the standard error of a single document.
    public var chunkTargets: Int
    /// Keep one `DocumentResult` per document.
    public var keepPerDocument: Bool
    /// Ids per packed forward pass: consecutive windows (of one or many documents) are run together
    /// up to this many ids in all, each exactly as if alone. A longer window runs by itself;
    /// 0 or 1 gives one forward pass per window.
    public var batchBytes: Int

    public init(window: Int? = nil, context: Int = 0, patching: PatchingScheme? = nil, threshold: Float? = nil, addEOS: Bool = true,
                chunkTargets: Int = 1024, keepPerDocument: Bool = false, batchBytes: Int = Evaluator.defaultBatchBytes) {
        self.window = window
        self.patching = patching
        self.context = context
        self.threshold = threshold
        self.addEOS = addEOS
        self.chunkTargets = chunkTargets
        self.keepPerDocument = keepPerDocument
        self.batchBytes = batchBytes
    }
}

/// Progress of a run, reported after every forward pass.
public struct EvalProgress: Sendable {
    /// Input bytes (files as read, JSONL lines included) passed so far, and in all (nil when unknown).
    public var inputBytesDone: Int
    public var inputBytesTotal: Int?
    public var documents: Int
    public var bytesScored: Int
    public var seconds: Double
}

public enum EvalError: Error, CustomStringConvertible, Equatable {
    case badChunkSize(Int)
    case badBatchSize(Int)
    case nonFiniteLoss(document: String)
    /// The window is longer than the model's positions (the least max_position_embeddings of its parts).
    case windowTooLarge(window: Int, positions: Int)

    public var description: String {
        switch self {
        case .badChunkSize(let n): return "the standard-error chunk size must be at least 1 target (got \(n))"
        case .badBatchSize(let n): return "the batch size must be 0 or more ids per forward pass (got \(n)); 0 runs one window per pass"
        case .nonFiniteLoss(let document):
            return "document '\(document)' got a non-finite or absurdly large loss: the model produced NaN or infinite logits; check the weights (e.g. with the parity tests)"
        case .windowTooLarge(let window, let positions):
            return "a window of \(window) ids exceeds the model's \(positions) positions (max_position_embeddings); the window (EvalOptions.window) must be \(positions) ids or less"
        }
    }
}

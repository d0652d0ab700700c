import Foundation
import Safetensors

/// A BLT model loaded from a `transformers`-layout directory (config.json + model.safetensors,
/// sharded or not). Bytes → ids → entropies → patches → encoder → global → decoder → logits.
///
/// Immutable: weights (mapped, in their stored dtype) and config only, shared freely across
/// threads. Passes run in an `InferenceContext`, which owns the activations; the methods here that
/// run the model make a context for the one call (keep a context to run many passes).
public final class BLTModel: Sendable {
    public let config: BLTConfig
    public let directory: String
    /// Arithmetic of the weight products (`.float32` matches the reference).
    public let precision: Precision
    /// How this model patches (config.json's rule unless `with(patching:)` chose another).
    public let patching: PatchingScheme
    let checkpoint: SafetensorsCheckpoint
    let entropyModel: EntropyModel
    let encoder: LocalEncoder
    let global: GlobalTransformer
    let decoder: LocalDecoder

    public var vocabularySize: Int { config.vocabularySize }
    /// The most ids one sequence may hold: the smallest `max_position_embeddings` of the entropy
    /// model and the local models (the global transformer counts patches, which are fewer).
    public var maxSequenceLength: Int {
        min(config.patcher.maxPositions, config.encoder.maxPositions, config.decoder.maxPositions)
    }

    /// Maps the checkpoint; weights stay in their stored dtype (bf16 for the released models).
    /// With `readAhead` the kernel is asked to read every mapped weight from disk now, in large
    /// requests, most of them in the background: on a cold page cache the first pass then waits far
    /// less than when each page is read at its first touch. Pass false for work that runs the
    /// entropy model only (patching), which would otherwise read gigabytes it never uses.
    public init(directory: String, precision: Precision = .float32, readAhead: Bool = true) throws {
        try KernelPath.checkEnvironment()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BLTError.modelDirectoryNotFound(directory)
        }
        self.directory = directory
        self.precision = precision
        config = try BLTConfig(contentsOf: directory + "/config.json")
        patching = config.patching
        do { checkpoint = try SafetensorsCheckpoint(path: directory) } catch let error as SafetensorsError {
            throw BLTError.checkpoint(error, context: "cannot open the weights in '\(directory)'")
        }
        let weights = WeightLoader(checkpoint: checkpoint, precision: precision)
        entropyModel = try EntropyModel(weights, config: config.patcher, vocabularySize: config.vocabularySize)
        encoder = try LocalEncoder(weights, config: config)
        global = try GlobalTransformer(weights, config: config)
        decoder = try LocalDecoder(weights, config: config)
        try AddressSpace.checkHeadroom()
        if readAhead { weights.readAhead.start() }
    }

    private init(_ other: BLTModel, patching: PatchingScheme) {
        config = other.config; directory = other.directory; precision = other.precision; self.patching = patching
        checkpoint = other.checkpoint; entropyModel = other.entropyModel; encoder = other.encoder
        global = other.global; decoder = other.decoder
    }

    /// The same model (weights shared, nothing reloaded) patching with `patching`: every path that
    /// patches (evaluation, generation, `patchLengths`) then uses it.
    public func with(patching: PatchingScheme) -> BLTModel { BLTModel(self, patching: patching) }

    /// BOS + (byte + 4)… (+ EOS).
    public func tokenize(_ text: String, addEOS: Bool = true) -> [Int32] { Tokenizer.encode(text, addEOS: addEOS) }
    public func tokenize(_ bytes: [UInt8], addEOS: Bool = true) -> [Int32] { Tokenizer.encode(bytes, addEOS: addEOS) }

    /// The entropy model's next-byte logits, [ids.count, 260] (see `InferenceContext`).
    public func entropyModelLogits(_ ids: [Int32]) throws -> [Float] { try InferenceContext(model: self).entropyModelLogits(ids) }

    /// Next-byte entropy (nats) at every position: H[t] is the entropy model's uncertainty about id t + 1.
    public func entropies(_ ids: [Int32]) throws -> [Float] { try InferenceContext(model: self).entropies(ids) }

    /// Patch lengths of `ids` under the model's `patching` (see `InferenceContext.patchLengths`).
    public func patchLengths(_ ids: [Int32]) throws -> [Int] { try InferenceContext(model: self).patchLengths(ids) }

    /// Patch lengths under the model's `patching`, from entropies computed already.
    public func patchLengths(ids: [Int32], entropies: [Float]) throws -> [Int] {
        try patching.patchLengths(ids: ids, entropies: entropies)
    }

    /// transformers' rule (entropy above `threshold`, default the model's, and the model's
    /// `maxPatchLength`), whatever rule the model patches with (see `Patching.patchLengths`).
    public func patchLengths(entropies: [Float], threshold: Float? = nil) -> [Int] {
        Patching.patchLengths(entropies: entropies, threshold: threshold ?? patching.threshold,
                              maxPatchLength: patching.maxPatchLength)
    }

    /// Next-byte logits [ids.count, 260] (see `InferenceContext.logits`).
    public func logits(_ ids: [Int32], patchLengths: [Int]? = nil) throws -> [Float] {
        try InferenceContext(model: self).logits(ids, patchLengths: patchLengths)
    }

    /// Everything one forward pass computes, for research code and parity tests.
    public struct Forward: Sendable {
        public var patchLengths: [Int]
        public var embeddings: [Float]        // [N, encoder hidden], byte + hash embeddings
        public var encoderStates: [Float]     // [N, encoder hidden]
        public var encoderPatches: [Float]    // [P·k, encoder hidden]
        public var globalStates: [Float]      // [P, global hidden]
        public var decoderStates: [Float]     // [N, decoder hidden], before the final norm
        public var logits: [Float]            // [N, 260]
    }

    /// Every stage of one forward pass (see `InferenceContext.forward`).
    public func forward(_ ids: [Int32], patchLengths given: [Int]? = nil) throws -> Forward {
        try InferenceContext(model: self).forward(ids, patchLengths: given)
    }

    // MARK: Packed passes (each in a context of its own; see `InferenceContext`)

    public func entropies(_ ids: [Int32], context: EntropyContext) throws -> [Float] {
        try InferenceContext(model: self).entropies(ids, context: context)
    }

    public func entropies(batch: [[Int32]], context: EntropyContext) throws -> [[Float]] {
        try InferenceContext(model: self).entropies(batch: batch, context: context)
    }

    public func entropies(batch: [[Int32]]) throws -> [[Float]] { try InferenceContext(model: self).entropies(batch: batch) }

    /// Entropies within this fraction of the threshold (times max(1, |threshold|)) are recomputed
    /// alone before a patch decision is made on them (see `InferenceContext.patchLengths(batch:)`).
    static let thresholdRecheckMargin: Float = 1e-4

    public func patchLengths(batch: [[Int32]], scheme: PatchingScheme? = nil) throws -> [[Int]] {
        try InferenceContext(model: self).patchLengths(batch: batch, scheme: scheme)
    }

    public func forward(batch: [[Int32]], patchLengths given: [[Int]]? = nil) throws -> [Forward] {
        try InferenceContext(model: self).forward(batch: batch, patchLengths: given)
    }

    public func logits(batch: [[Int32]], patchLengths: [[Int]]? = nil) throws -> [[Float]] {
        try InferenceContext(model: self).logits(batch: batch, patchLengths: patchLengths)
    }

    func validate(_ ids: [Int32]) throws {
        guard !ids.isEmpty else { throw BLTError.invalidInput("no input ids: encode at least the BOS id") }
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= config.vocabularySize }) {
            throw BLTError.invalidInput("id \(bad) is outside the byte vocabulary 0..<\(config.vocabularySize)")
        }
    }

    func checkPatchLengths(_ lengths: [Int], count: Int) throws -> [Int] {
        guard lengths.allSatisfy({ $0 >= 0 }), lengths.reduce(0, +) == count, lengths.first == 1 else {
            throw BLTError.invalidInput("patch lengths must be non-negative, start with 1 (the BOS patch) and sum to the \(count) ids; got \(lengths.count) lengths summing to \(lengths.reduce(0, +))")
        }
        return lengths
    }
}

import Foundation
import Safetensors

/// A BLT model loaded from a `transformers`-layout directory (config.json + model.safetensors,
/// sharded or not). Bytes → ids → entropies → patches → encoder → global → decoder → logits.
public final class BLTModel: @unchecked Sendable {
    public let config: BLTConfig
    public let directory: String
    /// Arithmetic of the weight products (`.float32` matches the reference).
    public let precision: Precision
    let checkpoint: SafetensorsCheckpoint
    let entropyModel: EntropyModel
    let encoder: LocalEncoder
    let global: GlobalTransformer
    let decoder: LocalDecoder

    public var vocabularySize: Int { config.vocabularySize }

    /// Maps the checkpoint; weights stay in their stored dtype (bf16 for the released models).
    public init(directory: String, precision: Precision = .float32) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BLTError.modelDirectoryNotFound(directory)
        }
        self.directory = directory
        self.precision = precision
        config = try BLTConfig(contentsOf: directory + "/config.json")
        do { checkpoint = try SafetensorsCheckpoint(path: directory) } catch {
            throw BLTError.checkpoint("cannot open the weights in '\(directory)': \(error)")
        }
        let weights = WeightLoader(checkpoint: checkpoint, precision: precision)
        entropyModel = try EntropyModel(weights, config: config.patcher, vocabularySize: config.vocabularySize)
        encoder = try LocalEncoder(weights, config: config)
        global = try GlobalTransformer(weights, config: config)
        decoder = try LocalDecoder(weights, config: config)
    }

    /// BOS + (byte + 4)… (+ EOS).
    public func tokenize(_ text: String, addEOS: Bool = true) -> [Int32] { Tokenizer.encode(text, addEOS: addEOS) }
    public func tokenize(_ bytes: [UInt8], addEOS: Bool = true) -> [Int32] { Tokenizer.encode(bytes, addEOS: addEOS) }

    /// The entropy model's next-byte logits, [ids.count, 260].
    public func entropyModelLogits(_ ids: [Int32]) throws -> [Float] {
        try validate(ids)
        return entropyModel.logits(ids)
    }

    /// Next-byte entropy (nats) at every position: H[t] is the entropy model's uncertainty about id t + 1.
    public func entropies(_ ids: [Int32]) throws -> [Float] {
        ByteLatent.entropies(logits: try entropyModelLogits(ids), width: config.vocabularySize)
    }

    /// Patch lengths as transformers computes them (see `Patching.patchLengths`).
    public func patchLengths(_ ids: [Int32]) throws -> [Int] {
        patchLengths(entropies: try entropies(ids))
    }

    public func patchLengths(entropies: [Float], threshold: Float? = nil) -> [Int] {
        Patching.patchLengths(entropies: entropies, threshold: threshold ?? config.patchingThreshold,
                              maxPatchLength: config.maxPatchLength)
    }

    /// Next-byte logits [ids.count, 260]: logits row t predicts id t + 1. Patch lengths are computed
    /// by the entropy model unless given (they must sum to ids.count, first patch of length 1).
    public func logits(_ ids: [Int32], patchLengths: [Int]? = nil) throws -> [Float] {
        try forward(ids, patchLengths: patchLengths).logits
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

    public func forward(_ ids: [Int32], patchLengths given: [Int]? = nil) throws -> Forward {
        try validate(ids)
        let lengths = try given.map { try checkPatchLengths($0, count: ids.count) } ?? patchLengths(ids)
        let n = ids.count
        let ranges = Patching.ranges(lengths: lengths)
        let embeddings = encoder.embed(ids, positions: 0..<n)
        let byteStates = encoder.byteStates(embeddings: embeddings, count: n, caches: encoder.layers.makeCaches())
        let patches = encoder.patchStates(byteStates: byteStates, count: n, ranges: ranges)
        let globalStates = global.forward(patches, patchCount: lengths.count)
        let keys = decoder.patchKeys(globalStates: globalStates, patchCount: lengths.count)
        let decoderStates = decoder.states(byteStates: byteStates, count: n, keys: keys,
                                           patchOfRow: Patching.decoderPatchIDs(lengths: lengths, count: n),
                                           caches: decoder.layers.makeCaches())
        return Forward(patchLengths: lengths, embeddings: embeddings, encoderStates: byteStates,
                       encoderPatches: patches, globalStates: globalStates, decoderStates: decoderStates,
                       logits: decoder.logits(states: decoderStates, count: n))
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

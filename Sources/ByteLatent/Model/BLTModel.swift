import Foundation
import Safetensors

/// A BLT model loaded from a `transformers`-layout directory (config.json + model.safetensors,
/// sharded or not). Bytes → ids → entropies → patches → encoder → global → decoder → logits.
public final class BLTModel: @unchecked Sendable {
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
    public init(directory: String, precision: Precision = .float32) throws {
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

    /// The entropy model's next-byte logits, [ids.count, 260] (a packed pass of one sequence).
    public func entropyModelLogits(_ ids: [Int32]) throws -> [Float] {
        try validate(ids)
        return entropyModel.logits(ids, packing: PackedRows(lengths: [ids.count]))
    }

    /// Next-byte entropy (nats) at every position: H[t] is the entropy model's uncertainty about id t + 1.
    public func entropies(_ ids: [Int32]) throws -> [Float] {
        if ids.count > config.patcher.maxPositions { return try entropiesInWindows(ids, context: .transformers) }
        return ByteLatent.entropies(logits: try entropyModelLogits(ids), width: config.vocabularySize)
    }

    /// Patch lengths of `ids` under the model's `patching` (the entropy model runs only when the
    /// rule reads entropies), in transformers' layout (see `PatchingScheme.patchLengths`).
    public func patchLengths(_ ids: [Int32]) throws -> [Int] {
        try patchLengths(ids: ids, entropies: patching.rule.needsEntropies ? entropies(ids) : [])
    }

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
        try forward(batch: [ids], patchLengths: given.map { [$0] })[0]
    }

    // MARK: Packed passes

    /// Entropies under `context`: `.official` runs every 8,192 ids as a sequence of its own, as the
    /// official `calculate_entropies` does (`.transformers`: `entropies(ids)`).
    public func entropies(_ ids: [Int32], context: EntropyContext) throws -> [Float] {
        try entropies(batch: [ids], context: context)[0]
    }

    /// `entropies(batch:)` under `context` (see `entropies(_:context:)`): official chunks of all
    /// sequences run in one packed pass, each chunk alone.
    /// A sequence longer than one pass may be (the entropy model's positions, or the official
    /// chunk) runs window by window (`EntropyWindows`), so memory does not grow with its length.
    public func entropies(batch: [[Int32]], context: EntropyContext) throws -> [[Float]] {
        let longest = context == .official ? EntropyContext.officialChunk : config.patcher.maxPositions
        guard batch.contains(where: { $0.count > longest }) else { return try entropies(batch: batch) }
        return try batch.map { ids in
            try ids.count > longest ? entropiesInWindows(ids, context: context) : entropies(batch: [ids])[0]
        }
    }

    /// Entropies of several sequences from one packed pass of the entropy model: each equals
    /// `entropies(ids)` of that sequence alone (up to fp32 summation order).
    public func entropies(batch: [[Int32]]) throws -> [[Float]] {
        for ids in batch { try validate(ids) }
        let packing = PackedRows(lengths: batch.map(\.count))
        let logits = entropyModel.logits(Array(batch.joined()), packing: packing)
        let all = ByteLatent.entropies(logits: logits, width: config.vocabularySize)
        return packing.ranges.map { Array(all[$0]) }
    }

    /// Entropies within this fraction of the threshold (times max(1, |threshold|)) are recomputed
    /// alone before a patch decision is made on them (see `patchLengths(batch:)`).
    static let thresholdRecheckMargin: Float = 1e-4

    /// Patch lengths of several sequences from one packed pass of the entropy model, equal to each
    /// sequence's own `patchLengths(_:)` under `scheme` (default: the model's). A packed pass sums in
    /// another order than a pass alone (OpenBLAS rounds a row differently in a GEMM of another
    /// height), so an entropy may move by ~1e-6; a sequence with a decision that close to flipping
    /// gets its entropies recomputed alone, and so every decision is the one-at-a-time decision.
    public func patchLengths(batch: [[Int32]], scheme: PatchingScheme? = nil) throws -> [[Int]] {
        try patching(batch: batch, scheme: scheme).map(\.lengths)
    }

    /// `patchLengths(batch:scheme:)` with the entropies each sequence's patches were decided on
    /// (the packed pass's, or the pass alone's where a decision was close; NaN when the rule reads
    /// none). `entropies` holds what was computed for this batch already (a sweep reuses it).
    package func patching(batch: [[Int32]], scheme: PatchingScheme? = nil, entropies given: BatchEntropies? = nil) throws
        -> [(entropies: [Float], lengths: [Int])] {
        let scheme = scheme ?? self.patching
        guard scheme.rule.needsEntropies else {
            return try batch.map { ([Float](repeating: .nan, count: $0.count), try scheme.patchLengths(ids: $0, entropies: [])) }
        }
        let memo = given ?? BatchEntropies(model: self, batch: batch, context: scheme.entropyContext)
        let margin = Self.thresholdRecheckMargin * max(1, abs(scheme.threshold))
        let packed = try memo.packed()
        return try batch.indices.map { s in
            // A batch of one is the pass alone.
            let close = batch.count > 1 && scheme.isClose(entropies: packed[s], margin: margin)
            let entropies = close ? try memo.alone(s) : packed[s]
            return (entropies, try scheme.patchLengths(ids: batch[s], entropies: entropies))
        }
    }

    /// `forward` of several sequences (documents or windows, each starting with its BOS) in one
    /// packed pass: every sequence gets exactly what it would get alone (its own patches, positions
    /// from 0, attention and cross-attention inside the sequence only), while the matrix products
    /// run over all rows at once. Patch lengths are computed per sequence unless given.
    public func forward(batch: [[Int32]], patchLengths given: [[Int]]? = nil) throws -> [Forward] {
        let pass = try packedForward(batch, patchLengths: given)
        let d = config.encoder.hiddenSize, k = config.crossAttentionK
        return pass.bytes.ranges.indices.map { s in
            let bytes = pass.bytes.ranges[s], patches = pass.patches.ranges[s]
            func rows(_ buffer: [Float], _ range: Range<Int>, _ width: Int) -> [Float] {
                Array(buffer[range.lowerBound * width ..< range.upperBound * width])
            }
            return Forward(patchLengths: pass.patchLengths[s], embeddings: rows(pass.embeddings, bytes, d),
                           encoderStates: rows(pass.encoderStates, bytes, d),
                           encoderPatches: rows(pass.encoderPatches, patches, k * d),
                           globalStates: rows(pass.globalStates, patches, config.global.hiddenSize),
                           decoderStates: rows(pass.decoderStates, bytes, config.decoder.hiddenSize),
                           logits: rows(pass.logits, bytes, config.vocabularySize))
        }
    }

    /// `logits` of several sequences in one packed pass (see `forward(batch:patchLengths:)`).
    public func logits(batch: [[Int32]], patchLengths: [[Int]]? = nil) throws -> [[Float]] {
        let pass = try packedForward(batch, patchLengths: patchLengths)
        return pass.bytes.split(pass.logits, width: config.vocabularySize)
    }

    /// One packed pass, its buffers left packed: rows of sequence s are `bytes.ranges[s]` (byte
    /// buffers) and `patches.ranges[s]` (patch buffers; encoderPatches has k·hidden per patch).
    struct PackedForward {
        var bytes: PackedRows
        var patches: PackedRows
        var patchLengths: [[Int]]
        var embeddings: [Float]
        var encoderStates: [Float]
        var encoderPatches: [Float]
        var globalStates: [Float]
        var decoderStates: [Float]
        var logits: [Float]
    }

    /// `embeddings` may be given when computed ahead (`encoder.embed(batch:)`, e.g. on another thread).
    func packedForward(_ batch: [[Int32]], patchLengths given: [[Int]]?, embeddings givenEmbeddings: [Float]? = nil) throws -> PackedForward {
        guard !batch.isEmpty else { throw BLTError.invalidInput("no sequences to run: pass at least one") }
        for ids in batch { try validate(ids) }
        var lengths: [[Int]]
        if let given {
            guard given.count == batch.count else {
                throw BLTError.invalidInput("\(given.count) patch-length lists for \(batch.count) sequences; give one per sequence")
            }
            lengths = try zip(given, batch).map { try checkPatchLengths($0, count: $1.count) }
        } else {
            lengths = try patchLengths(batch: batch, scheme: nil)
        }
        let bytes = PackedRows(lengths: batch.map(\.count))
        let patches = PackedRows(lengths: lengths.map(\.count))
        let n = bytes.count
        // In packed rows: each patch's bytes and its sequence's bytes (where an empty patch looks),
        // each byte's decoder patch and its sequence's patches (where a byte with none looks).
        var patchRanges: [Range<Int>] = [], sequenceOfPatch: [Range<Int>] = []
        var decoderPatch: [Int] = [], patchesOfByte: [Range<Int>] = []
        patchRanges.reserveCapacity(patches.count); sequenceOfPatch.reserveCapacity(patches.count)
        decoderPatch.reserveCapacity(n); patchesOfByte.reserveCapacity(n)
        for (s, sequenceLengths) in lengths.enumerated() {
            let byteOffset = bytes.ranges[s].lowerBound, patchOffset = patches.ranges[s].lowerBound
            for r in Patching.ranges(lengths: sequenceLengths) {
                patchRanges.append(r.lowerBound + byteOffset ..< r.upperBound + byteOffset)
            }
            sequenceOfPatch.append(contentsOf: repeatElement(bytes.ranges[s], count: sequenceLengths.count))
            for p in Patching.decoderPatchIDs(lengths: sequenceLengths, count: batch[s].count) {
                decoderPatch.append(p < 0 ? -1 : p + patchOffset)
            }
            patchesOfByte.append(contentsOf: repeatElement(patches.ranges[s], count: batch[s].count))
        }
        let embeddings = givenEmbeddings ?? encoder.embed(batch: batch)
        var byteStates = embeddings
        encoder.layers.forward(&byteStates, packing: bytes)
        let encoderPatches = encoder.patchStates(byteStates: byteStates, count: n, ranges: patchRanges,
                                                 patches: patches, sequenceOfPatch: sequenceOfPatch)
        let globalStates = global.forward(encoderPatches, packing: patches)
        let keys = decoder.patchKeys(globalStates: globalStates, patchCount: patches.count)
        let decoderStates = decoder.states(byteStates: byteStates, count: n, keys: keys, patchOfRow: decoderPatch,
                                           caches: nil, packing: bytes,
                                           patchesOfRow: { patchesOfByte[$0] })
        return PackedForward(bytes: bytes, patches: patches, patchLengths: lengths, embeddings: embeddings,
                             encoderStates: byteStates, encoderPatches: encoderPatches, globalStates: globalStates,
                             decoderStates: decoderStates, logits: decoder.logits(states: decoderStates, count: n))
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

import Safetensors

/// Bytes of stored weights each of BLT's four parts reads when it runs, counted from the config's
/// shapes and the checkpoint's dtypes. A part's matrices (its layers, cross-attention, patch
/// projections, LM head) are read whole every time the part runs; its embedding tables (the
/// entropy model's and the encoder's byte embeddings, the hash n-gram table) are gathered: each id
/// reads one row of each byte embedding and one row per hash table (`BLTConfig.hashTableCount`).
/// Norm vectors (fp32 copies of a few KB) are not counted.
public struct WeightBytes: Sendable, Equatable {
    public struct Part: Sendable, Equatable {
        /// Bytes of the matrices read whole each time the part runs.
        public var matrices = 0
        /// Bytes of embedding-table rows read per id.
        public var rowsPerID = 0
        /// Bytes of `matrices` that incremental decoding reads only when a patch completes: the
        /// encoder's patch projection and cross-attention, the decoder's patch projection and the
        /// key/value matrices of its cross-attentions (the global transformer's are all of them).
        public var perPatch = 0

        public init(matrices: Int = 0, rowsPerID: Int = 0, perPatch: Int = 0) {
            self.matrices = matrices; self.rowsPerID = rowsPerID; self.perPatch = perPatch
        }
    }

    public var entropyModel = Part()
    public var localEncoder = Part()
    public var globalTransformer = Part()
    public var localDecoder = Part()

    /// The matrices of the entropy model, local encoder and local decoder.
    public var localMatrices: Int { entropyModel.matrices + localEncoder.matrices + localDecoder.matrices }
    /// What a generation step reads: the local parts' matrices but those run per completed patch.
    public var stepMatrices: Int { localMatrices - localEncoder.perPatch - localDecoder.perPatch }
    /// What a completed patch adds to its step: the global transformer and the local parts' per-patch matrices.
    public var patchMatrices: Int { globalTransformer.matrices + localEncoder.perPatch + localDecoder.perPatch }
    /// Every part's matrices (what one forward pass reads).
    public var allMatrices: Int { localMatrices + globalTransformer.matrices }
    /// Table rows read per id by every part.
    public var rowsPerID: Int { entropyModel.rowsPerID + localEncoder.rowsPerID + globalTransformer.rowsPerID + localDecoder.rowsPerID }

    /// The parts' weights from `config`'s shapes, each stored in `bytesPerWeight` bytes (4 for f32,
    /// 2 for bf16 and f16); `hashBytesPerWeight` for the hash n-gram table.
    public init(config c: BLTConfig, bytesPerWeight: Int, hashBytesPerWeight: Int? = nil) {
        self.init(config: c, entropyModel: bytesPerWeight, localEncoder: bytesPerWeight, hashTable: hashBytesPerWeight ?? bytesPerWeight,
                  globalTransformer: bytesPerWeight, localDecoder: bytesPerWeight)
    }

    /// The weights of `model` in the dtypes its checkpoint stores them in.
    public init(model: BLTModel) {
        let checkpoint = model.checkpoint
        func size(_ names: String...) -> Int {
            for name in names { if let info = checkpoint.info(name) { return info.dtype.byteSize } }
            return 4
        }
        let layer = "layers.0.self_attn.q_proj.weight"
        self.init(config: model.config,
                  entropyModel: size("model.patcher." + layer, "model.patcher.lm_head.weight"),
                  localEncoder: size("model.local_encoder." + layer, "model.local_encoder.embed_tokens.weight"),
                  hashTable: size("model.encoder_hash_tok_embedding.weight"),
                  globalTransformer: size("model.global_transformer." + layer),
                  localDecoder: size("model.local_decoder." + layer, "lm_head.weight"))
    }

    init(config c: BLTConfig, entropyModel p: Int, localEncoder e: Int, hashTable h: Int, globalTransformer g: Int, localDecoder d: Int) {
        let k = c.crossAttentionK, vocabulary = c.vocabularySize
        let de = c.encoder.hiddenSize, dg = c.global.hiddenSize, dd = c.decoder.hiddenSize
        entropyModel = Part(matrices: p * (Self.stack(c.patcher) + vocabulary * c.patcher.hiddenSize), rowsPerID: p * c.patcher.hiddenSize)
        // Encoder: its layers, the patch projection to k queries, one cross-attention (as it runs).
        let encoderPatch = e * (de * k * de + Self.crossAttention(c.encoder))
        localEncoder = Part(matrices: e * Self.stack(c.encoder) + encoderPatch, rowsPerID: e * de + h * c.hashTableCount * de,
                            perPatch: encoderPatch)
        let global = g * ((c.hasGlobalInputProjection ? k * de * dg : 0) + Self.stack(c.global))
        globalTransformer = Part(matrices: global, perPatch: global)
        // Decoder: each byte's queries and outputs cross-attend; the patch keys and values are
        // projected once per patch.
        let crossLayers = c.decoderCrossAttentionAllLayers ? c.decoder.layerCount : 1
        let decoderKV = c.decoder.keyValueWidth
        let decoderPatch = d * (dg * k * dd + crossLayers * 2 * dd * decoderKV)
        localDecoder = Part(matrices: decoderPatch + d * (crossLayers * 2 * dd * dd + Self.stack(c.decoder) + vocabulary * dd),
                            perPatch: decoderPatch)
    }

    /// Weights of a stack's layers: q, k, v, o and the SwiGLU's three matrices (the shapes
    /// `ComputeCount.stack` multiplies by).
    static func stack(_ c: TransformerConfig) -> Int {
        let d = c.hiddenSize, kv = c.keyValueHeadCount * c.headDimension
        return c.layerCount * (d * (2 * d + 2 * kv) + 3 * d * c.intermediateSize)
    }

    /// Weights of one cross-attention: q and o (d × d), k and v (d × key-value width).
    static func crossAttention(_ c: TransformerConfig) -> Int {
        let d = c.hiddenSize, kv = c.keyValueHeadCount * c.headDimension
        return d * (2 * d + 2 * kv)
    }
}

/// What a run computed and read: the FLOPs of its products (`ComputeCount`) and the bytes of stored
/// weights it read (`WeightBytes`), from which the achieved GFLOP/s and GB/s of weights follow.
public struct WorkCount: Sendable, Equatable {
    public var flops = ComputeCount()
    public var weightBytesRead = 0.0

    public init() {}

    public static func += (a: inout WorkCount, b: WorkCount) {
        a.flops += b.flops
        a.weightBytesRead += b.weightBytesRead
    }

    /// One packed forward pass over sequences of `ids` ids and `patches` patches each (every patch
    /// the global transformer runs, as `ComputeCount.forward` counts them): each part's matrices
    /// are read once for the whole pass, the table rows once per id. The entropy model counts only
    /// when `entropyModel` (space and static patching never run it).
    public static func packedPass(_ config: BLTConfig, weights: WeightBytes, sequences: [(ids: Int, patches: Int)],
                                  entropyModel runsEntropy: Bool) -> WorkCount {
        var out = WorkCount()
        guard !sequences.isEmpty else { return out }
        var ids = 0
        for s in sequences {
            out.flops += ComputeCount.forward(config, ids: s.ids, patches: s.patches, entropyModel: runsEntropy)
            ids += s.ids
        }
        out.weightBytesRead = Double(weights.allMatrices - (runsEntropy ? 0 : weights.entropyModel.matrices))
            + Double(ids) * Double(weights.rowsPerID - (runsEntropy ? 0 : weights.entropyModel.rowsPerID))
        return out
    }

    /// Incremental generation of `ids` ids in all, the first `promptIDs` of them run in one pass and
    /// each later one in a step, patched into `patchLengths`: `promptPass` plus `decoding`.
    public static func generation(_ config: BLTConfig, weights: WeightBytes, ids: Int, promptIDs: Int, patchLengths: [Int],
                                  entropyModel runsEntropy: Bool) -> WorkCount {
        var out = promptPass(config, weights: weights, ids: ids, promptIDs: promptIDs, patchLengths: patchLengths,
                             entropyModel: runsEntropy)
        out += decoding(config, weights: weights, ids: ids, promptIDs: promptIDs, patchLengths: patchLengths,
                        entropyModel: runsEntropy)
        return out
    }

    /// The prompt's pass of a generation (see `generation`): every part's matrices once, the table
    /// rows of its ids; the FLOPs of a forward pass over its ids and the patches that start in it.
    public static func promptPass(_ config: BLTConfig, weights: WeightBytes, ids: Int, promptIDs: Int, patchLengths: [Int],
                                  entropyModel runsEntropy: Bool) -> WorkCount {
        var out = WorkCount()
        guard ids > 0 else { return out }
        out.flops = ComputeCount.forward(config, ids: min(promptIDs, ids), patches: patchesStarting(before: promptIDs, patchLengths),
                                         entropyModel: runsEntropy)
        out.weightBytesRead = Double(weights.allMatrices - (runsEntropy ? 0 : weights.entropyModel.matrices))
            + Double(min(promptIDs, ids)) * Double(weights.rowsPerID - (runsEntropy ? 0 : weights.entropyModel.rowsPerID))
        return out
    }

    /// The steps after the prompt's pass (see `generation`). FLOPs: those of one forward pass over
    /// the whole sequence (the caches compute every row once) less the prompt's. Weights read:
    /// `stepMatrices` at every step, `patchMatrices` for every patch that starts after the prompt
    /// (they run once per completed patch), the table rows of each new id.
    public static func decoding(_ config: BLTConfig, weights: WeightBytes, ids: Int, promptIDs: Int, patchLengths: [Int],
                                entropyModel runsEntropy: Bool) -> WorkCount {
        var out = WorkCount()
        let prompt = max(promptIDs, 1), patches = patchesStarting(before: prompt, patchLengths)
        guard ids > prompt else { return out }
        out.flops = ComputeCount.forward(config, ids: ids, patches: patchLengths.count, entropyModel: runsEntropy)
            - ComputeCount.forward(config, ids: prompt, patches: patches, entropyModel: runsEntropy)
        let laterPatches = patchLengths.filter { $0 > 0 }.count - patchesStarting(before: promptIDs, patchLengths.filter { $0 > 0 })
        let entropy = runsEntropy ? 0 : weights.entropyModel.matrices
        let rows = weights.rowsPerID - (runsEntropy ? 0 : weights.entropyModel.rowsPerID)
        out.weightBytesRead = Double(ids - prompt) * Double(weights.stepMatrices - entropy + rows)
            + Double(laterPatches) * Double(weights.patchMatrices)
        return out
    }

    /// How many of `patchLengths` start before id `position`.
    private static func patchesStarting(before position: Int, _ patchLengths: [Int]) -> Int {
        var start = 0, count = 0
        for length in patchLengths {
            if start >= position { break }
            count += 1
            start += length
        }
        return count
    }

    /// FLOPs per second over `seconds` (0 when no time passed).
    public func flopsPerSecond(seconds: Double) -> Double { seconds > 0 ? flops.total / seconds : 0 }
    /// Weight bytes read per second over `seconds` (0 when no time passed).
    public func weightBytesPerSecond(seconds: Double) -> Double { seconds > 0 ? weightBytesRead / seconds : 0 }
}

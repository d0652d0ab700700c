/// The local decoder: starts from the encoder's byte states; each layer first cross-attends from
/// every byte to the k keys of the last completed patch, then runs a windowed causal block;
/// final norm and the byte LM head.
final class LocalDecoder: @unchecked Sendable {
    let config: TransformerConfig
    let crossAttentionK: Int
    let patchProjection: Linear
    let crossAttentions: [CrossAttention]   // one per layer, or only for layer 0
    let layers: TransformerStack
    let norm: [Float]
    let lmHead: Linear

    init(_ weights: WeightLoader, config: BLTConfig) throws {
        let c = config.decoder
        self.config = c
        crossAttentionK = config.crossAttentionK
        let decoder = weights.scoped("model.local_decoder")
        patchProjection = try decoder.linear("patch_embedding_projection",
                                             out: c.hiddenSize * config.crossAttentionK, in: config.global.hiddenSize)
        crossAttentions = try (0..<(config.decoderCrossAttentionAllLayers ? c.layerCount : 1)).map {
            try CrossAttention(decoder.scoped("cross_attn_layers.\($0)"), config: c)
        }
        layers = try TransformerStack(decoder, config: c)
        norm = try decoder.vector("norm.weight", count: c.hiddenSize)
        lmHead = try weights.linear("lm_head", out: config.vocabularySize, in: c.hiddenSize)   // at the checkpoint's root
    }

    /// Cross-attention keys and values of patches, per cross-attention layer: the global states
    /// ([patches, global hidden]) projected to k rows each.
    struct PatchKeys {
        var count: Int   // rows: patches · k
        var perLayer: [(keys: [Float], values: [Float])]
    }

    func patchKeys(globalStates: [Float], patchCount: Int) -> PatchKeys {
        let rows = patchProjection(globalStates, rows: patchCount)   // [P, k·d] = [P·k, d]
        return PatchKeys(count: patchCount * crossAttentionK,
                         perLayer: crossAttentions.map { $0.project(rows, count: patchCount * crossAttentionK) })
    }

    /// Decoder states (before the final norm) of `count` byte states continuing the sequence in
    /// `caches`; row r cross-attends to the keys of patch `patchOfRow[r]` in `keys` (−1: none visible,
    /// then uniformly to all patches, or to `patchesOfRow(r)` in a packed pass). With `packing`
    /// (and no caches: each layer's are freed when it is done) each row's self-attention stays
    /// inside its own sequence.
    func states(byteStates: [Float], count: Int, keys: PatchKeys, patchOfRow: [Int], caches: [KVCache]?,
                packing: PackedRows? = nil, patchesOfRow: ((Int) -> Range<Int>)? = nil) -> [Float] {
        let k = crossAttentionK
        let table = packing.map { layers.rope.table(positions: $0.positions) }
            ?? layers.rope.table(positions: caches![0].endPosition ..< caches![0].endPosition + count)
        var hidden = byteStates
        for (i, layer) in layers.layers.enumerated() {
            if i < crossAttentions.count {
                let attended = crossAttentions[i].forward(
                    queries: hidden, queryCount: count, keys: keys.perLayer[i].keys, values: keys.perLayer[i].values,
                    keyCount: keys.count,
                    keyRange: {
                        let p = patchOfRow[$0]
                        return p < 0 ? 0..<0 : p * k ..< p * k + k
                    },
                    fullyMaskedRange: patchesOfRow.map { own in { own($0).lowerBound * k ..< own($0).upperBound * k } },
                    queryGroups: packing?.ranges)
                addInPlace(&hidden, attended)   // the reference's double residual: 2·h + o
            }
            layer.forward(&hidden, count: count, rope: table,
                          cache: caches?[i] ?? KVCache(width: config.keyValueWidth, window: config.slidingWindow), packing: packing)
        }
        return hidden
    }

    func logits(states: [Float], count: Int) -> [Float] {
        lmHead(rmsNorm(states, rows: count, weight: norm, epsilon: config.normEpsilon), rows: count)
    }
}

/// The local decoder: starts from the encoder's byte states; each layer first cross-attends from
/// every byte to the k keys of the last completed patch, then runs a windowed causal block;
/// final norm and the byte LM head.
final class LocalDecoder: @unchecked Sendable {
    let config: TransformerConfig
    let crossAttentionK: Int
    let patchProjection: Linear
    let crossAttentions: [CrossAttention]   // one per layer, or only for layer 0
    let layers: TransformerStack
    let norm: FloatMatrix
    let lmHead: Linear

    init(_ weights: WeightLoader, config: BLTConfig) throws {
        let c = config.decoder
        self.config = c
        crossAttentionK = config.crossAttentionK
        patchProjection = try weights.linear("model.local_decoder.patch_embedding_projection",
                                             out: c.hiddenSize * config.crossAttentionK, in: config.global.hiddenSize)
        crossAttentions = try (0..<(config.decoderCrossAttentionAllLayers ? c.layerCount : 1)).map {
            try CrossAttention(weights, prefix: "model.local_decoder.cross_attn_layers.\($0).", config: c)
        }
        layers = try TransformerStack(weights, prefix: "model.local_decoder.", config: c)
        norm = try weights.vector("model.local_decoder.norm.weight", count: c.hiddenSize)
        lmHead = try weights.linear("lm_head", out: config.vocabularySize, in: c.hiddenSize)
    }

    /// Decoder states before the final norm, [N, hidden].
    func states(byteStates: [Float], globalStates: [Float], patchLengths: [Int]) -> [Float] {
        let n = byteStates.count / config.hiddenSize
        let patchCount = patchLengths.count
        let k = crossAttentionK
        let keys = patchProjection(globalStates, rows: patchCount)   // [P, k·d] = [P·k, d]
        let patchOfByte = Patching.decoderPatchIDs(lengths: patchLengths, count: n)
        let table = layers.rope.table(positions: 0..<n)
        let window = config.slidingWindow
        var hidden = byteStates
        for (i, layer) in layers.layers.enumerated() {
            if i < crossAttentions.count {
                let attended = crossAttentions[i].forward(queries: hidden, queryCount: n, keyValues: keys, keyCount: patchCount * k) {
                    let p = patchOfByte[$0]
                    return p < 0 ? 0..<0 : p * k ..< p * k + k
                }
                addInPlace(&hidden, attended)   // the reference's double residual: 2·h + o
            }
            layer.forward(&hidden, count: n, rope: layers.rope, table: table) { causalRange($0, window: window) }
        }
        return hidden
    }

    func logits(states: [Float], count: Int) -> [Float] {
        lmHead(rmsNorm(states, rows: count, weight: norm, epsilon: config.normEpsilon), rows: count)
    }
}

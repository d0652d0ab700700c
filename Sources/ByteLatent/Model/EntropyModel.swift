import Foundation

/// The entropy model (the "patcher"): a small byte-level LM whose next-byte entropy decides where
/// patches begin. Its own transformer, sliding-window causal attention and RoPE θ.
final class EntropyModel: Sendable {
    let tokenEmbedding: WeightMatrix
    let transformer: TransformerStack
    let norm: [Float]
    let lmHead: Linear
    let config: TransformerConfig

    init(_ weights: WeightLoader, config: TransformerConfig, vocabularySize: Int) throws {
        self.config = config
        let patcher = weights.scoped("model.patcher")
        tokenEmbedding = try patcher.matrix("embed_tokens.weight", rows: vocabularySize, columns: config.hiddenSize)
        transformer = try TransformerStack(patcher, config: config)
        norm = try patcher.vector("norm.weight", count: config.hiddenSize)
        lmHead = try patcher.linear("lm_head", out: vocabularySize, in: config.hiddenSize)
    }

    /// Next-byte logits [ids.count, vocabulary] in the workspace: of `ids` continuing the sequence
    /// in `caches`, or of packed sequences (`ids` holds them end to end), each as if alone. Its
    /// hidden states take the encoder's slot (the entropies are taken before the encoder runs), its
    /// logits the gate's (free once the last block is done).
    func logits<IDs: Collection<Int32>>(_ ids: IDs, caches: [KVCache]?, packing: PackedRows?,
                                        workspace: Workspace) -> UnsafeMutablePointer<Float> {
        let count = ids.count, d = config.hiddenSize
        let hidden = workspace.floats(.encoderStates, count * d)
        gatherRows(tokenEmbedding, ids, into: hidden)
        transformer.forward(hidden, count: count, caches: caches, packing: packing, workspace: workspace)
        let normed = rmsNorm(hidden, rows: count, weight: norm, epsilon: config.normEpsilon,
                             into: workspace.floats(.normed, count * d))
        let logits = workspace.floats(.queryOrGate, count * lmHead.outputSize)
        lmHead.apply(normed, rows: count, into: logits, scratch: workspace.scratch)
        return logits
    }
}

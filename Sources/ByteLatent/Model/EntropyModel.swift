import Foundation

/// The entropy model (the "patcher"): a small byte-level LM whose next-byte entropy decides where
/// patches begin. Its own transformer, sliding-window causal attention and RoPE θ.
final class EntropyModel: @unchecked Sendable {
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

    /// Next-byte logits [ids.count, vocabulary] of `ids`, which continue the sequence in `caches`.
    func logits(_ ids: [Int32], caches: [KVCache]) -> [Float] {
        var hidden = gatherRows(tokenEmbedding, ids)
        transformer.forward(&hidden, count: ids.count, caches: caches)
        return lmHead(rmsNorm(hidden, rows: ids.count, weight: norm, epsilon: config.normEpsilon), rows: ids.count)
    }

    /// Logits of packed sequences (`ids` holds them end to end), each as if alone.
    func logits(_ ids: [Int32], packing: PackedRows) -> [Float] {
        var hidden = gatherRows(tokenEmbedding, ids)
        transformer.forward(&hidden, packing: packing)
        return lmHead(rmsNorm(hidden, rows: ids.count, weight: norm, epsilon: config.normEpsilon), rows: ids.count)
    }
}

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

/// Rows `ids` of an embedding matrix, as a new [ids.count, columns] buffer.
func gatherRows<IDs: Collection>(_ matrix: WeightMatrix, _ ids: IDs) -> [Float] where IDs.Element == Int32 {
    let d = matrix.columns
    return [Float](unsafeUninitializedCapacity: ids.count * d) { dst, initialized in
        for (t, id) in ids.enumerated() { matrix.copyRow(Int(id), to: dst.baseAddress! + t * d) }
        initialized = ids.count * d
    }
}

/// Entropy in nats of softmax(logits) for each row of [rows, width] logits: −Σ p log p.
public func entropies(logits: [Float], width: Int) -> [Float] {
    let rows = width == 0 ? 0 : logits.count / width
    return logits.withUnsafeBufferPointer { buffer in
        (0..<rows).map { r in
            let row = buffer.baseAddress! + r * width
            var maximum = -Float.infinity
            for v in 0..<width { maximum = max(maximum, row[v]) }
            var sum = 0.0
            for v in 0..<width { sum += exp(Double(row[v] - maximum)) }
            let logSum = log(sum)
            var entropy = 0.0
            for v in 0..<width {
                let logP = Double(row[v] - maximum) - logSum
                entropy -= exp(logP) * logP
            }
            return Float(entropy)
        }
    }
}

/// The local encoder: byte + hash n-gram embeddings → windowed causal layers → per-patch max
/// pooling → projection to k sub-queries per patch → cross-attention from each patch's queries to
/// the bytes of that patch.
final class LocalEncoder: @unchecked Sendable {
    let config: TransformerConfig
    let crossAttentionK: Int
    let tokenEmbedding: FloatMatrix
    let hashEmbedding: HashEmbedding
    let layers: TransformerStack
    let patchProjection: Linear
    let crossAttention: CrossAttention

    init(_ weights: WeightLoader, config: BLTConfig) throws {
        let c = config.encoder
        self.config = c
        crossAttentionK = config.crossAttentionK
        tokenEmbedding = try weights.matrix("model.local_encoder.embed_tokens.weight", rows: config.vocabularySize, columns: c.hiddenSize)
        let table = try weights.tensor("model.encoder_hash_tok_embedding.weight",
                                       shape: [config.hashTableCount * config.hashVocabularySize, c.hiddenSize])
        do { try table.validateFloatRows() } catch { throw BLTError.checkpoint("\(error)") }
        hashEmbedding = HashEmbedding(table: table, groupSizes: config.hashGroupSizes,
                                      functionCount: config.hashFunctionCount, vocabularySize: config.hashVocabularySize)
        layers = try TransformerStack(weights, prefix: "model.local_encoder.", config: c)
        patchProjection = try weights.linear("model.local_encoder.patch_embedding_projection",
                                             out: c.hiddenSize * config.crossAttentionK, in: c.hiddenSize)
        // transformers re-pools after every layer when cross_attn_all_layers, overwriting the
        // previous result, so only the last layer's cross-attention reaches the output.
        let used = config.encoderCrossAttentionAllLayers ? c.layerCount - 1 : 0
        if config.encoderCrossAttentionAllLayers {
            for i in 0..<c.layerCount where !weights.has("model.local_encoder.cross_attn_layers.\(i).q_proj.weight") {
                throw BLTError.missingTensor(name: "model.local_encoder.cross_attn_layers.\(i).q_proj.weight")
            }
        }
        crossAttention = try CrossAttention(weights, prefix: "model.local_encoder.cross_attn_layers.\(used).", config: c)
    }

    /// Token plus hash n-gram embeddings, [ids.count, hidden].
    func embed(_ ids: [Int32]) -> [Float] {
        var embeddings = gatherRows(tokenEmbedding, ids)
        hashEmbedding.addHashRows(ids: ids, to: &embeddings)
        return embeddings
    }

    /// Byte states [N, hidden] (the decoder's input) and patch states [P·k, hidden].
    func forward(_ ids: [Int32], patchLengths: [Int]) -> (byteStates: [Float], patchStates: [Float]) {
        let n = ids.count
        var hidden = embed(ids)
        layers.forward(&hidden, count: n)
        let patchRanges = Patching.ranges(lengths: patchLengths)
        let queries = patchProjection(maxPool(hidden, ranges: patchRanges), rows: patchRanges.count)
        let k = crossAttentionK
        var patches = crossAttention.forward(queries: queries, queryCount: patchRanges.count * k, keyValues: hidden, keyCount: n) {
            let r = patchRanges[$0 / k]
            return r.clamped(to: 0..<n)
        }
        addInPlace(&patches, queries)   // the reference's double residual: 2·q + o
        return (hidden, patches)
    }

    /// Elementwise max over each patch's byte states; an empty patch pools to zeros (the reference's
    /// scatter_reduce "amax" into zeros without the initial value).
    func maxPool(_ hidden: [Float], ranges: [Range<Int>]) -> [Float] {
        let d = config.hiddenSize
        var pooled = [Float](repeating: 0, count: ranges.count * d)
        hidden.withUnsafeBufferPointer { h in
            pooled.withUnsafeMutableBufferPointer { out in
                for (p, range) in ranges.enumerated() where !range.isEmpty {
                    let dst = out.baseAddress! + p * d
                    dst.update(from: h.baseAddress! + range.lowerBound * d, count: d)
                    for t in range.dropFirst() {
                        let src = h.baseAddress! + t * d
                        for i in 0..<d { dst[i] = max(dst[i], src[i]) }
                    }
                }
            }
        }
        return pooled
    }
}

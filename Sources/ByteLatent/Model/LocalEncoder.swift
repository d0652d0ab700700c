import Safetensors

/// The local encoder: byte + hash n-gram embeddings → windowed causal layers → per-patch max
/// pooling → projection to k sub-queries per patch → cross-attention from each patch's queries to
/// the bytes of that patch.
final class LocalEncoder: @unchecked Sendable {
    let config: TransformerConfig
    let crossAttentionK: Int
    let tokenEmbedding: WeightMatrix
    let hashEmbedding: HashEmbedding
    let layers: TransformerStack
    let patchProjection: Linear
    let crossAttention: CrossAttention

    init(_ weights: WeightLoader, config: BLTConfig) throws {
        let c = config.encoder
        self.config = c
        crossAttentionK = config.crossAttentionK
        let encoder = weights.scoped("model.local_encoder")
        tokenEmbedding = try encoder.matrix("embed_tokens.weight", rows: config.vocabularySize, columns: c.hiddenSize)
        let table = try weights.tableRows("model.encoder_hash_tok_embedding.weight",   // beside the encoder, not in it
                                          rows: config.hashTableCount * config.hashVocabularySize, columns: c.hiddenSize)
        hashEmbedding = HashEmbedding(table: table, groupSizes: config.hashGroupSizes,
                                      functionCount: config.hashFunctionCount, vocabularySize: config.hashVocabularySize)
        layers = try TransformerStack(encoder, config: c)
        patchProjection = try encoder.linear("patch_embedding_projection",
                                             out: c.hiddenSize * config.crossAttentionK, in: c.hiddenSize)
        // transformers re-pools after every layer when cross_attn_all_layers, overwriting the
        // previous result, so only the last layer's cross-attention reaches the output.
        let used = config.encoderCrossAttentionAllLayers ? c.layerCount - 1 : 0
        if config.encoderCrossAttentionAllLayers {
            for i in 0..<c.layerCount where !encoder.has("cross_attn_layers.\(i).q_proj.weight") {
                throw BLTError.missingTensor(name: encoder.fullName("cross_attn_layers.\(i).q_proj.weight"))
            }
        }
        crossAttention = try CrossAttention(encoder.scoped("cross_attn_layers.\(used)"), config: c)
    }

    /// Token plus hash n-gram embeddings of `positions` of `ids`, [positions.count, hidden].
    func embed(_ ids: [Int32], positions: Range<Int>) -> [Float] {
        var embeddings = gatherRows(tokenEmbedding, ids[positions])
        hashEmbedding.addHashRows(ids: ids, positions: positions, to: &embeddings)
        return embeddings
    }

    /// Embeddings of packed sequences ([Σ counts, hidden]): each sequence is hashed on its own ids
    /// only, so no n-gram reaches back into the sequence before it.
    func embed(batch: [[Int32]]) -> [Float] {
        var embeddings: [Float] = []
        embeddings.reserveCapacity(batch.reduce(0) { $0 + $1.count } * config.hiddenSize)
        for ids in batch { embeddings += embed(ids, positions: ids.indices) }
        return embeddings
    }

    /// Byte states of `positions` of `ids` (the decoder's input), continuing the sequence in `caches`.
    func byteStates(_ ids: [Int32], positions: Range<Int>, caches: [KVCache]) -> [Float] {
        byteStates(embeddings: embed(ids, positions: positions), count: positions.count, caches: caches)
    }

    func byteStates(embeddings: [Float], count: Int, caches: [KVCache]) -> [Float] {
        var hidden = embeddings
        layers.forward(&hidden, count: count, caches: caches)
        return hidden
    }

    /// Patch states [ranges.count·k, hidden] of the patches whose bytes are `ranges` of `byteStates`
    /// ([count, hidden]): max-pool, project to k queries, cross-attend to the patch's own bytes.
    /// In a packed pass, `patches` holds each sequence's patches and `sequenceOfPatch[p]` its
    /// sequence's bytes, where an empty patch attends uniformly (the reference, with one sequence,
    /// spreads it over all bytes).
    func patchStates(byteStates: [Float], count: Int, ranges: [Range<Int>], patches: PackedRows? = nil,
                     sequenceOfPatch: [Range<Int>]? = nil) -> [Float] {
        let k = crossAttentionK
        let queries = patchProjection(maxPool(byteStates, ranges: ranges), rows: ranges.count)
        let (keys, values) = crossAttention.project(byteStates, count: count)
        var patches = crossAttention.forward(queries: queries, queryCount: ranges.count * k, keys: keys, values: values,
                                             keyCount: count, keyRange: { ranges[$0 / k] },
                                             fullyMaskedRange: sequenceOfPatch.map { own in { own[$0 / k] } },
                                             queryGroups: patches?.ranges.map { $0.lowerBound * k ..< $0.upperBound * k })
        addInPlace(&patches, queries)   // the reference's double residual: 2·q + o
        return patches
    }

    /// Elementwise max over each patch's byte states; an empty patch pools to zeros (the reference's
    /// scatter_reduce "amax" into zeros without the initial value).
    func maxPool(_ hidden: [Float], ranges: [Range<Int>]) -> [Float] {
        let d = config.hiddenSize
        var pooled = [Float](repeating: 0, count: ranges.count * d)
        hidden.withUnsafeBufferPointer { h in
            pooled.withUnsafeMutableBufferPointer { out in
                let source = h.baseAddress!, destination = out.baseAddress!
                parallelChunks(ranges.count, minimumChunk: 64) { patches in
                    for p in patches where !ranges[p].isEmpty {
                        let dst = destination + p * d
                        dst.update(from: source + ranges[p].lowerBound * d, count: d)
                        for t in ranges[p].dropFirst() {
                            let src = source + t * d
                            for i in 0..<d { dst[i] = max(dst[i], src[i]) }
                        }
                    }
                }
            }
        }
        return pooled
    }
}

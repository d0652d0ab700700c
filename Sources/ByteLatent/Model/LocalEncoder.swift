import Safetensors

/// The local encoder: byte + hash n-gram embeddings → windowed causal layers → per-patch max
/// pooling → projection to k sub-queries per patch → cross-attention from each patch's queries to
/// the bytes of that patch.
final class LocalEncoder: Sendable {
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

    /// Token plus hash n-gram embeddings of `positions` of `ids` into `out` ([positions.count, hidden]);
    /// earlier ids serve as the n-gram context.
    func embed(_ ids: [Int32], positions: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        gatherRows(tokenEmbedding, ids[positions], into: out)
        hashEmbedding.addHashRows(ids: ids, positions: positions, to: out)
    }

    /// Embeddings of packed sequences into `out` ([Σ counts, hidden]): each sequence is hashed on
    /// its own ids only, so no n-gram reaches back into the sequence before it.
    func embed(batch: [[Int32]], into out: UnsafeMutablePointer<Float>) {
        var row = 0
        for ids in batch {
            embed(ids, positions: ids.indices, into: out + row * config.hiddenSize)
            row += ids.count
        }
    }

    /// `embed(batch:into:)` as a new buffer (computed ahead, on another thread, by the evaluator).
    func embed(batch: [[Int32]]) -> [Float] {
        let count = batch.reduce(0) { $0 + $1.count } * config.hiddenSize
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { embed(batch: batch, into: buffer.baseAddress!) }
            initialized = count
        }
    }

    /// Byte states [positions.count, hidden] (the decoder's input) of `positions` of `ids`,
    /// continuing the sequence in `caches`, in the workspace.
    func byteStates(_ ids: [Int32], positions: Range<Int>, caches: [KVCache], workspace: Workspace) -> UnsafeMutablePointer<Float> {
        let hidden = workspace.floats(.encoderStates, positions.count * config.hiddenSize)
        embed(ids, positions: positions, into: hidden)
        layers.forward(hidden, count: positions.count, caches: caches, packing: nil, workspace: workspace)
        return hidden
    }

    /// Patch states [ranges.count·k, hidden] of the patches whose bytes are `ranges` of `byteStates`
    /// ([count, hidden]) into `out`: max-pool, project to k queries, cross-attend to the patch's own
    /// bytes. In a packed pass, `patches` holds each sequence's patches and `sequenceOfPatch[p]` its
    /// sequence's bytes, where an empty patch attends uniformly (the reference, with one sequence,
    /// spreads it over all bytes).
    func patchStates(byteStates: UnsafePointer<Float>, count: Int, ranges: [Range<Int>], patches: PackedRows? = nil,
                     sequenceOfPatch: [Range<Int>]? = nil, into out: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let k = crossAttentionK, d = config.hiddenSize, width = config.keyValueWidth
        let pooled = maxPool(byteStates, ranges: ranges, into: workspace.floats(.pooled, ranges.count * d))
        let queries = workspace.floats(.patchQueries, ranges.count * k * d)
        patchProjection.apply(pooled, rows: ranges.count, into: queries, scratch: workspace.scratch)
        let keys = workspace.floats(.keyOrUp, count * width), values = workspace.floats(.value, count * width)
        crossAttention.project(byteStates, count: count, keys: keys, values: values, workspace: workspace)
        crossAttention.forward(queries: queries, queryCount: ranges.count * k, keys: keys, values: values,
                               keyCount: count, keyRange: { ranges[$0 / k] },
                               fullyMaskedRange: sequenceOfPatch.map { own in { own[$0 / k] } },
                               queryGroups: patches?.ranges.map { $0.lowerBound * k ..< $0.upperBound * k },
                               into: out, workspace: workspace)
        add(out, queries, count: ranges.count * k * d)   // the reference's double residual: 2·q + o
    }

    /// Elementwise max over each patch's byte states into `pooled`; an empty patch pools to zeros
    /// (the reference's scatter_reduce "amax" into zeros without the initial value).
    func maxPool(_ source: UnsafePointer<Float>, ranges: [Range<Int>], into pooled: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        let d = config.hiddenSize
        pooled.update(repeating: 0, count: ranges.count * d)
        parallelChunks(ranges.count, minimumChunk: 64) { patches in
            for p in patches where !ranges[p].isEmpty {
                let dst = pooled + p * d
                dst.update(from: source + ranges[p].lowerBound * d, count: d)
                for t in ranges[p].dropFirst() {
                    let src = source + t * d
                    for i in 0..<d { dst[i] = max(dst[i], src[i]) }
                }
            }
        }
        return pooled
    }
}

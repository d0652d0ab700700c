/// The local decoder: starts from the encoder's byte states; each layer first cross-attends from
/// every byte to the k keys of the last completed patch, then runs a windowed causal block;
/// final norm and the byte LM head.
final class LocalDecoder: Sendable {
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

    /// Cross-attention keys and values of patches, per cross-attention layer, in the workspace's
    /// `patchKeys(layer:)` and `patchValues(layer:)` slots: [count, key/value width] each.
    struct PatchKeys {
        var count: Int   // rows: patches · k
        var keys: [UnsafePointer<Float>]
        var values: [UnsafePointer<Float>]
    }

    /// Patch keys of the global states ([patches, global hidden]) projected to k rows each.
    func patchKeys(globalStates: UnsafePointer<Float>, patchCount: Int, workspace: Workspace) -> PatchKeys {
        let count = patchCount * crossAttentionK, width = config.keyValueWidth
        let rows = workspace.floats(.patchRows, count * config.hiddenSize)   // [P, k·d] = [P·k, d]
        patchProjection.apply(globalStates, rows: patchCount, into: rows, scratch: workspace.scratch)
        var keys = PatchKeys(count: count, keys: [], values: [])
        for (layer, crossAttention) in crossAttentions.enumerated() {
            let k = workspace.floats(.patchKeys(layer: layer), count * width)
            let v = workspace.floats(.patchValues(layer: layer), count * width)
            crossAttention.project(rows, count: count, keys: k, values: v, workspace: workspace)
            keys.keys.append(k); keys.values.append(v)
        }
        return keys
    }

    /// Decoder states (before the final norm) of `count` byte states, in the workspace's
    /// `decoderStates` slot (see `run`).
    func states(byteStates: UnsafePointer<Float>, count: Int, keys: PatchKeys, patchOfRow: [Int], caches: [KVCache]?,
                packing: PackedRows? = nil, patchesOfRow: ((Int) -> Range<Int>)? = nil,
                workspace: Workspace) -> UnsafeMutablePointer<Float> {
        let hidden = workspace.floats(.decoderStates, copying: byteStates, count: count * config.hiddenSize)
        run(hidden, count: count, keys: keys, patchOfRow: patchOfRow, caches: caches, packing: packing,
            patchesOfRow: patchesOfRow, workspace: workspace)
        return hidden
    }

    /// Runs the decoder over `count` byte states in `hidden`, in place (they become the states
    /// before the final norm). Row r cross-attends to the keys of patch `patchOfRow[r]` in `keys`
    /// (−1: none visible, then uniformly to all patches, or to `patchesOfRow(r)` in a packed pass).
    /// The rows continue the sequence in `caches`, or (with `packing`, no caches kept) each row's
    /// self-attention stays inside its own sequence.
    func run(_ hidden: UnsafeMutablePointer<Float>, count: Int, keys: PatchKeys, patchOfRow: [Int], caches: [KVCache]?,
             packing: PackedRows?, patchesOfRow: ((Int) -> Range<Int>)?, workspace: Workspace) {
        let k = crossAttentionK, d = config.hiddenSize
        let table = layers.ropeTable(count: count, caches: caches, packing: packing, workspace: workspace)
        for (i, layer) in layers.layers.enumerated() {
            if i < crossAttentions.count {
                let attended = workspace.floats(.projected, count * d)
                crossAttentions[i].forward(
                    queries: hidden, queryCount: count, keys: keys.keys[i], values: keys.values[i], keyCount: keys.count,
                    keyRange: {
                        let p = patchOfRow[$0]
                        return p < 0 ? 0..<0 : p * k ..< p * k + k
                    },
                    fullyMaskedRange: patchesOfRow.map { own in { own($0).lowerBound * k ..< own($0).upperBound * k } },
                    queryGroups: packing?.ranges, into: attended, workspace: workspace)
                add(hidden, attended, count: count * d)   // the reference's double residual: 2·h + o
            }
            layer.forward(hidden, count: count, rope: table, cache: caches?[i], packing: packing, workspace: workspace)
        }
    }

    /// Logits [count, vocabulary] of decoder states, in the workspace.
    func logits(states: UnsafePointer<Float>, count: Int, workspace: Workspace) -> UnsafeMutablePointer<Float> {
        let logits = workspace.floats(.logits, count * lmHead.outputSize)
        self.logits(states: states, count: count, into: logits, workspace: workspace)
        return logits
    }

    /// Logits [count, vocabulary] of decoder states into `logits`.
    func logits(states: UnsafePointer<Float>, count: Int, into logits: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let normed = rmsNorm(states, rows: count, weight: norm, epsilon: config.normEpsilon,
                             into: workspace.floats(.normed, count * config.hiddenSize))
        lmHead.apply(normed, rows: count, into: logits, scratch: workspace.scratch)
    }
}

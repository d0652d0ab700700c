/// A stack of blocks with causal (optionally windowed) self-attention over one sequence: the
/// entropy model, the local encoder's and decoder's layers and the global transformer.
final class TransformerStack: @unchecked Sendable {
    let config: TransformerConfig
    let layers: [TransformerBlock]
    let rope: RotaryEmbedding

    /// `weights`: scoped to the stack's owner, which holds `layers.<i>`.
    init(_ weights: WeightLoader, config: TransformerConfig) throws {
        self.config = config
        layers = try (0..<config.layerCount).map { try TransformerBlock(weights.scoped("layers.\($0)"), config: config) }
        rope = RotaryEmbedding(theta: config.ropeTheta, headDimension: config.headDimension)
    }

    /// One cache per layer, empty.
    func makeCaches() -> [KVCache] {
        layers.map { _ in KVCache(width: config.keyValueWidth, window: config.slidingWindow) }
    }

    /// Runs `count` new rows through every layer; they continue the sequence the caches hold.
    func forward(_ hidden: inout [Float], count: Int, caches: [KVCache]) {
        let table = rope.table(positions: caches[0].endPosition ..< caches[0].endPosition + count)
        for (layer, cache) in zip(layers, caches) { layer.forward(&hidden, count: count, rope: table, cache: cache) }
    }

    /// Runs the packed sequences of `packing` through every layer, each as if alone. No cache is
    /// kept: each layer's keys and values are freed as soon as the layer is done (with 8192 rows
    /// they would otherwise hold about 1.3 GB on blt-1b until the pass ends).
    func forward(_ hidden: inout [Float], packing: PackedRows) {
        let table = rope.table(positions: packing.positions)
        for layer in layers {
            layer.forward(&hidden, count: packing.count, rope: table,
                          cache: KVCache(width: config.keyValueWidth, window: config.slidingWindow), packing: packing)
        }
    }
}

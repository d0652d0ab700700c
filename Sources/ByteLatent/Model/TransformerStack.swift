/// A stack of blocks with causal (optionally windowed) self-attention over one sequence: the
/// entropy model, the local encoder's and decoder's layers and the global transformer.
final class TransformerStack: Sendable {
    let config: TransformerConfig
    let layers: [TransformerBlock]
    let rope: RotaryEmbedding

    /// `weights`: scoped to the stack's owner, which holds `layers.<i>`.
    init(_ weights: WeightLoader, config: TransformerConfig) throws {
        self.config = config
        layers = try (0..<config.layerCount).map { try TransformerBlock(weights.scoped("layers.\($0)"), config: config) }
        rope = RotaryEmbedding(theta: config.ropeTheta, headDimension: config.headDimension)
    }

    /// One cache per layer, empty, in the layers' precision (bf16 rows under bf16 precision).
    func makeCaches() -> [KVCache] {
        let precision = layers.first?.query.precision ?? .float32
        return layers.map { _ in KVCache(width: config.keyValueWidth, window: config.slidingWindow, precision: precision) }
    }

    /// The RoPE table of `count` new rows continuing the caches, or of a packed pass's rows.
    func ropeTable(count: Int, caches: [KVCache]?, packing: PackedRows?, workspace: Workspace) -> RotaryView {
        if let packing { return rope.table(rows: packing.count, in: workspace) { $0 - packing.firstRow[$0] } }
        let first = caches![0].endPosition
        return rope.table(rows: count, in: workspace) { first + $0 }
    }

    /// Runs `count` rows of `hidden` through every layer, in place: new rows continuing the
    /// sequence the caches hold, or (with `packing`) the packed sequences of a pass, each as if
    /// alone. A packed pass keeps no cache: each layer's keys and values sit in the workspace
    /// until the next layer takes the same slots.
    func forward(_ hidden: UnsafeMutablePointer<Float>, count: Int, caches: [KVCache]?, packing: PackedRows?,
                 workspace: Workspace) {
        let table = ropeTable(count: count, caches: caches, packing: packing, workspace: workspace)
        for (i, layer) in layers.enumerated() {
            layer.forward(hidden, count: count, rope: table, cache: caches?[i], packing: packing, workspace: workspace)
        }
    }
}

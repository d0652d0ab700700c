/// The global (latent) transformer: causal attention over patches, an optional input projection
/// when k · encoder hidden ≠ global hidden, and no final norm (as in the reference).
final class GlobalTransformer: @unchecked Sendable {
    let inputProjection: Linear?
    let stack: TransformerStack
    let inputSize: Int

    init(_ weights: WeightLoader, config: BLTConfig) throws {
        inputSize = config.encoder.hiddenSize * config.crossAttentionK
        let global = weights.scoped("model.global_transformer")
        inputProjection = config.hasGlobalInputProjection
            ? try global.linear("token_embedding_projection", out: config.global.hiddenSize, in: inputSize)
            : nil
        stack = try TransformerStack(global, config: config.global)
    }

    /// `patchStates` is [P, k·encoder hidden] (the encoder's P·k rows viewed row-major); the
    /// patches continue the sequence held by `caches`.
    func forward(_ patchStates: [Float], patchCount: Int, caches: [KVCache]) -> [Float] {
        var hidden = inputProjection.map { $0(patchStates, rows: patchCount) } ?? patchStates
        stack.forward(&hidden, count: patchCount, caches: caches)
        return hidden
    }

    func forward(_ patchStates: [Float], patchCount: Int) -> [Float] {
        forward(patchStates, patchCount: patchCount, caches: stack.makeCaches())
    }

    /// Packed sequences of patches: each attends only to its own patches, positions from 0.
    func forward(_ patchStates: [Float], packing: PackedRows) -> [Float] {
        var hidden = inputProjection.map { $0(patchStates, rows: packing.count) } ?? patchStates
        stack.forward(&hidden, packing: packing)
        return hidden
    }
}

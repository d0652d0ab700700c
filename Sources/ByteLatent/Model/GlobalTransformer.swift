/// The global (latent) transformer: causal attention over patches, an optional input projection
/// when k · encoder hidden ≠ global hidden, and no final norm (as in the reference).
final class GlobalTransformer: Sendable {
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

    /// Global states [P, global hidden] in the workspace. `patchStates` is [P, k·encoder hidden]
    /// (the encoder's P·k rows viewed row-major); the patches continue the sequence held by
    /// `caches`, or (with `packing`) each packed sequence attends only to its own patches.
    func forward(_ patchStates: UnsafePointer<Float>, patchCount: Int, caches: [KVCache]?, packing: PackedRows?,
                 workspace: Workspace) -> UnsafeMutablePointer<Float> {
        let hidden = workspace.floats(.globalStates, patchCount * stack.config.hiddenSize)
        if let inputProjection {
            inputProjection.apply(patchStates, rows: patchCount, into: hidden, scratch: workspace.scratch)
        } else {
            hidden.update(from: patchStates, count: patchCount * inputSize)
        }
        stack.forward(hidden, count: patchCount, caches: caches, packing: packing, workspace: workspace)
        return hidden
    }
}

/// Cross-attention between patches and bytes (both directions). Queries and keys/values get their
/// own RMSNorm (one norm shared by K and V) before the projections; no RoPE.
final class CrossAttention: Sendable {
    let queryNorm: [Float], keyNorm: [Float]
    let query: Linear, key: Linear, value: Linear, output: Linear
    let config: TransformerConfig

    /// `weights`: scoped to this layer (`….cross_attn_layers.<i>`).
    init(_ weights: WeightLoader, config c: TransformerConfig) throws {
        let d = c.hiddenSize
        config = c
        queryNorm = try weights.vector("q_norm.weight", count: d)
        keyNorm = try weights.vector("k_norm.weight", count: d)
        query = try weights.linear("q_proj", out: d, in: d)
        key = try weights.linear("k_proj", out: c.keyValueWidth, in: d)
        value = try weights.linear("v_proj", out: c.keyValueWidth, in: d)
        output = try weights.linear("o_proj", out: d, in: d)
    }

    /// Keys and values ([count, key/value width] each) of `count` rows (normed once, shared by K and V).
    func project(_ keyValues: UnsafePointer<Float>, count: Int, keys: UnsafeMutablePointer<Float>,
                 values: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let normed = rmsNorm(keyValues, rows: count, weight: keyNorm, epsilon: config.normEpsilon,
                             into: workspace.floats(.normed, count * config.hiddenSize))
        Linear.apply([key, value], to: normed, rows: count, into: [keys, values], scratch: workspace.scratch)
    }

    /// Writes `x + o` into `result`: the module adds its own residual, as the reference's does.
    /// Callers add the input once more (the reference's double residual, 2x + o). A query with an
    /// empty key range attends uniformly to `fullyMaskedRange` (all keys when nil; see `attention`).
    func forward(queries x: UnsafePointer<Float>, queryCount: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                 keyCount: Int, keyRange: (Int) -> Range<Int>, fullyMaskedRange: ((Int) -> Range<Int>)? = nil,
                 queryGroups: [Range<Int>]? = nil, into result: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let d = config.hiddenSize, count = queryCount * d
        let normed = rmsNorm(x, rows: queryCount, weight: queryNorm, epsilon: config.normEpsilon,
                             into: workspace.floats(.normed, count))
        let q = workspace.floats(.queryOrGate, count)
        query.apply(normed, rows: queryCount, into: q, scratch: workspace.scratch)
        let attended = workspace.floats(.normed, count)   // normed is read by the query projection only
        attended.update(repeating: 0, count: count)
        attention(queries: q, queryCount: queryCount, keysAndValues: KeyValueRows(keys: keys, values: values), keyCount: keyCount,
                  shape: config.attentionShape, keyRange: keyRange, fullyMaskedRange: fullyMaskedRange,
                  queryGroups: queryGroups, precision: query.precision, output: attended, workspace: workspace)
        output.apply(attended, rows: queryCount, into: result, scratch: workspace.scratch)
        add(result, x, count: count)
    }
}

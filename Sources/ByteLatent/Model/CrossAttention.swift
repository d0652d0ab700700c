/// Cross-attention between patches and bytes (both directions). Queries and keys/values get their
/// own RMSNorm (one norm shared by K and V) before the projections; no RoPE.
final class CrossAttention: @unchecked Sendable {
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

    /// Keys and values of `count` rows (normed once, shared by K and V).
    func project(_ keyValues: [Float], count: Int) -> (keys: [Float], values: [Float]) {
        let normed = rmsNorm(keyValues, rows: count, weight: keyNorm, epsilon: config.normEpsilon)
        let projected = Linear.apply([key, value], to: normed, rows: count)
        return (projected[0], projected[1])
    }

    /// Returns `x + o`: the module adds its own residual, as the reference's does. Callers add the
    /// input once more (the reference's double residual, 2x + o). A query with an empty key range
    /// attends uniformly to `fullyMaskedRange` (all keys when nil; see `attention`).
    func forward(queries x: [Float], queryCount: Int, keys: [Float], values: [Float], keyCount: Int,
                 keyRange: (Int) -> Range<Int>, fullyMaskedRange: ((Int) -> Range<Int>)? = nil,
                 queryGroups: [Range<Int>]? = nil) -> [Float] {
        let q = query(rmsNorm(x, rows: queryCount, weight: queryNorm, epsilon: config.normEpsilon), rows: queryCount)
        var attended = [Float](repeating: 0, count: queryCount * config.hiddenSize)
        q.withUnsafeBufferPointer { qp in
            keys.withUnsafeBufferPointer { kp in
                values.withUnsafeBufferPointer { vp in
                    attended.withUnsafeMutableBufferPointer { op in
                        attention(queries: qp.baseAddress!, queryCount: queryCount, keys: kp.baseAddress!, values: vp.baseAddress!,
                                  keyCount: keyCount, shape: config.attentionShape, keyRange: keyRange,
                                  fullyMaskedRange: fullyMaskedRange, queryGroups: queryGroups,
                                  precision: query.precision, output: op.baseAddress!)
                    }
                }
            }
        }
        var result = output(attended, rows: queryCount)
        addInPlace(&result, x)
        return result
    }
}

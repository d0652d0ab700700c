/// Cross-attention between patches and bytes (both directions). Queries and keys/values get their
/// own RMSNorm (one norm shared by K and V) before the projections; no RoPE.
final class CrossAttention: @unchecked Sendable {
    let queryNorm: FloatMatrix, keyNorm: FloatMatrix
    let query: Linear, key: Linear, value: Linear, output: Linear
    let shape: AttentionShape
    let epsilon: Float
    let dimension: Int

    init(_ weights: WeightLoader, prefix: String, config c: TransformerConfig) throws {
        let d = c.hiddenSize, kvWidth = c.keyValueHeadCount * c.headDimension
        dimension = d
        epsilon = c.normEpsilon
        shape = AttentionShape(headCount: c.headCount, keyValueHeadCount: c.keyValueHeadCount, headDimension: c.headDimension)
        queryNorm = try weights.vector(prefix + "q_norm.weight", count: d)
        keyNorm = try weights.vector(prefix + "k_norm.weight", count: d)
        query = try weights.linear(prefix + "q_proj", out: d, in: d)
        key = try weights.linear(prefix + "k_proj", out: kvWidth, in: d)
        value = try weights.linear(prefix + "v_proj", out: kvWidth, in: d)
        output = try weights.linear(prefix + "o_proj", out: d, in: d)
    }

    /// Returns `queries + o`: the module adds its own residual, as the reference's does. Callers add
    /// the input once more (the reference's double residual, 2x + o).
    func forward(queries x: [Float], queryCount: Int, keyValues: [Float], keyCount: Int,
                 keyRange: (Int) -> Range<Int>) -> [Float] {
        let q = query(rmsNorm(x, rows: queryCount, weight: queryNorm, epsilon: epsilon), rows: queryCount)
        let normedKV = rmsNorm(keyValues, rows: keyCount, weight: keyNorm, epsilon: epsilon)
        let k = key(normedKV, rows: keyCount), v = value(normedKV, rows: keyCount)
        var attended = [Float](repeating: 0, count: queryCount * dimension)
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    attended.withUnsafeMutableBufferPointer { op in
                        attention(queries: qp.baseAddress!, queryCount: queryCount, keys: kp.baseAddress!, values: vp.baseAddress!,
                                  keyCount: keyCount, shape: shape, keyRange: keyRange, output: op.baseAddress!)
                    }
                }
            }
        }
        var result = output(attended, rows: queryCount)
        addInPlace(&result, x)
        return result
    }
}

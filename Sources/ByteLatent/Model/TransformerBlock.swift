/// A pre-norm Llama-style block, shared by all four transformers:
/// h = x + Attention(RMSNorm(x)); out = h + SwiGLU(RMSNorm(h)).
final class TransformerBlock: @unchecked Sendable {
    let config: TransformerConfig
    let attentionNorm: [Float]
    let query: Linear, key: Linear, value: Linear, output: Linear
    let mlpNorm: [Float]
    let gate: Linear, up: Linear, down: Linear

    /// `weights`: scoped to this block (`….layers.<i>`).
    init(_ weights: WeightLoader, config c: TransformerConfig) throws {
        config = c
        let d = c.hiddenSize
        let attention = weights.scoped("self_attn"), mlp = weights.scoped("mlp")
        attentionNorm = try weights.vector("input_layernorm.weight", count: d)
        query = try attention.linear("q_proj", out: d, in: d)
        key = try attention.linear("k_proj", out: c.keyValueWidth, in: d)
        value = try attention.linear("v_proj", out: c.keyValueWidth, in: d)
        output = try attention.linear("o_proj", out: d, in: d)
        mlpNorm = try weights.vector("post_attention_layernorm.weight", count: d)
        gate = try mlp.linear("gate_proj", out: c.intermediateSize, in: d)
        up = try mlp.linear("up_proj", out: c.intermediateSize, in: d)
        down = try mlp.linear("down_proj", out: d, in: c.intermediateSize)
    }

    /// Runs the block over `count` new rows of `hidden` ([count, hidden]) in place. The rows sit at
    /// absolute positions cache.endPosition ..< + count; their keys and values are appended to
    /// `cache`, and each row attends causally (within the sliding window) to everything cached.
    /// With `packing` (and an empty cache) each row attends only within its own sequence.
    func forward(_ hidden: inout [Float], count: Int, rope: RotaryTable, cache: KVCache, packing: PackedRows? = nil) {
        let first = cache.endPosition
        precondition(packing == nil || (first == 0 && packing!.count == count), "a packed pass starts from an empty cache")
        let normed = rmsNorm(hidden, rows: count, weight: attentionNorm, epsilon: config.normEpsilon)
        // Moved out of the array: q and k are then the only references when RoPE rotates them in place.
        var projected = Linear.apply([query, key, value], to: normed, rows: count)
        let v = projected.removeLast()
        var k = projected.removeLast(), q = projected.removeLast()
        rope.apply(&q, rows: count, heads: config.headCount)
        rope.apply(&k, rows: count, heads: config.keyValueHeadCount)
        cache.append(keys: k, values: v, rows: count)
        var attended = [Float](repeating: 0, count: count * config.hiddenSize)
        let window = config.slidingWindow
        q.withUnsafeBufferPointer { qp in
            cache.keys.withUnsafeBufferPointer { kp in
                cache.values.withUnsafeBufferPointer { vp in
                    attended.withUnsafeMutableBufferPointer { op in
                        attention(queries: qp.baseAddress!, queryCount: count, keys: kp.baseAddress!, values: vp.baseAddress!,
                                  keyCount: cache.count, shape: config.attentionShape,
                                  keyRange: { i in
                                      let visible = packing?.causalRange(i, window: window) ?? causalRange(first + i, window: window)
                                      return cache.row(of: visible.lowerBound) ..< cache.row(of: visible.upperBound)
                                  },
                                  queryGroups: packing?.ranges, precision: query.precision, output: op.baseAddress!)
                    }
                }
            }
        }
        cache.trim()
        addInPlace(&hidden, output(attended, rows: count))
        feedForward(&hidden, count: count)
    }

    func feedForward(_ hidden: inout [Float], count: Int) {
        let normed = rmsNorm(hidden, rows: count, weight: mlpNorm, epsilon: config.normEpsilon)
        var projected = Linear.apply([gate, up], to: normed, rows: count)
        let u = projected.removeLast()
        var g = projected.removeLast()   // moved out: SwiGLU writes into it in place without a copy
        g.withUnsafeMutableBufferPointer { gp in
            u.withUnsafeBufferPointer { siluMultiply(gp.baseAddress!, $0.baseAddress!, count: gp.count) }
        }
        addInPlace(&hidden, down(g, rows: count))
    }
}

extension TransformerConfig {
    var keyValueWidth: Int { keyValueHeadCount * headDimension }
    var attentionShape: AttentionShape {
        AttentionShape(headCount: headCount, keyValueHeadCount: keyValueHeadCount, headDimension: headDimension)
    }
}

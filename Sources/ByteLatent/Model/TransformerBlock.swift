import CKernels

/// A pre-norm Llama-style block, shared by all four transformers:
/// h = x + Attention(RMSNorm(x)); out = h + SwiGLU(RMSNorm(h)).
final class TransformerBlock: Sendable {
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

    /// Runs the block over `count` rows of `hidden` ([count, hidden]) in place; its activations
    /// come from `workspace`. With `cache`, the rows sit at absolute positions
    /// cache.endPosition ..< + count, their keys and values are appended to it, and each row
    /// attends causally (within the sliding window) to everything cached. With `packing` instead
    /// (a whole pass, no cache kept) each row attends only within its own sequence.
    func forward(_ hidden: UnsafeMutablePointer<Float>, count: Int, rope: RotaryView, cache: KVCache?,
                 packing: PackedRows?, workspace: Workspace) {
        precondition((cache == nil) != (packing == nil), "a block runs either on a cache or on a packed pass")
        let d = config.hiddenSize, width = config.keyValueWidth
        let normed = normalize(hidden, count: count, weight: attentionNorm, workspace: workspace)
        let q = workspace.floats(.queryOrGate, count * d)
        let k = workspace.floats(.keyOrUp, count * width), v = workspace.floats(.value, count * width)
        Linear.apply([query, key, value], to: normed, rows: count, into: [q, k, v], scratch: workspace.scratch)
        rope.apply(q, rows: count, heads: config.headCount)
        rope.apply(k, rows: count, heads: config.keyValueHeadCount)
        let attended = workspace.floats(.normed, count * d)   // normed is read by the projections only
        attended.update(repeating: 0, count: count * d)
        let window = config.slidingWindow
        if let cache {
            let first = cache.endPosition
            cache.append(keys: k, values: v, rows: count)
            cache.withRows { stored in
                attention(queries: q, queryCount: count, keysAndValues: stored, keyCount: cache.count, shape: config.attentionShape,
                          keyRange: { i in
                              let visible = causalRange(first + i, window: window)
                              return cache.row(of: visible.lowerBound) ..< cache.row(of: visible.upperBound)
                          },
                          precision: query.precision, output: attended, workspace: workspace)
            }
            cache.trim()
        } else if let packing {
            attention(queries: q, queryCount: count, keysAndValues: passRows(k, v, count: count),
                      keyCount: count, shape: config.attentionShape,
                      keyRange: { packing.causalRange($0, window: window) }, queryGroups: packing.ranges,
                      precision: query.precision, output: attended, workspace: workspace)
        }
        let projected = workspace.floats(.projected, count * d)
        output.apply(attended, rows: count, into: projected, scratch: workspace.scratch)
        add(hidden, projected, count: count * d)
        feedForward(hidden, count: count, workspace: workspace)
    }

    /// A pass's own keys and values as attention reads them: as a cache of this precision stores
    /// them (rounded to bf16 under bf16 precision, in place), so a pass and incremental decoding agree.
    private func passRows(_ k: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, count: Int) -> KeyValueRows {
        if query.precision == .bfloat16 {
            parallelChunks(count * config.keyValueWidth, minimumChunk: 32_768) { range in
                blt_round_floats_to_bf16(k + range.lowerBound, k + range.lowerBound, range.count)
                blt_round_floats_to_bf16(v + range.lowerBound, v + range.lowerBound, range.count)
            }
        }
        return KeyValueRows(keys: k, values: v)
    }

    func feedForward(_ hidden: UnsafeMutablePointer<Float>, count: Int, workspace: Workspace) {
        let d = config.hiddenSize, inner = config.intermediateSize
        let normed = normalize(hidden, count: count, weight: mlpNorm, workspace: workspace)
        // q and k are dead once attended: the gate and up projections take their slots.
        let g = workspace.floats(.queryOrGate, count * inner), u = workspace.floats(.keyOrUp, count * inner)
        Linear.apply([gate, up], to: normed, rows: count, into: [g, u], scratch: workspace.scratch)
        siluMultiply(g, u, count: count * inner)   // SwiGLU, in place in the gate's buffer
        let projected = workspace.floats(.projected, count * d)
        down.apply(g, rows: count, into: projected, scratch: workspace.scratch)
        add(hidden, projected, count: count * d)
    }

    private func normalize(_ x: UnsafePointer<Float>, count: Int, weight: [Float], workspace: Workspace) -> UnsafeMutablePointer<Float> {
        rmsNorm(x, rows: count, weight: weight, epsilon: config.normEpsilon, into: workspace.floats(.normed, count * weight.count))
    }
}

/// RMSNorm of `rows` rows of `weight.count` values into `out`; returns `out`.
@discardableResult
func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, weight: [Float], epsilon: Float,
             into out: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
    weight.withUnsafeBufferPointer {
        rmsNorm(x, rows: rows, dimension: $0.count, weight: $0.baseAddress!, epsilon: epsilon, into: out)
    }
    return out
}

extension TransformerConfig {
    var keyValueWidth: Int { keyValueHeadCount * headDimension }
    var attentionShape: AttentionShape {
        AttentionShape(headCount: headCount, keyValueHeadCount: keyValueHeadCount, headDimension: headDimension)
    }
}

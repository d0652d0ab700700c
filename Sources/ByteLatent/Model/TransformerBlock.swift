/// A pre-norm Llama-style block, shared by all four transformers:
/// h = x + Attention(RMSNorm(x)); out = h + SwiGLU(RMSNorm(h)).
final class TransformerBlock: @unchecked Sendable {
    let config: TransformerConfig
    let attentionNorm: FloatMatrix
    let query: Linear, key: Linear, value: Linear, output: Linear
    let mlpNorm: FloatMatrix
    let gate: Linear, up: Linear, down: Linear

    init(_ weights: WeightLoader, prefix: String, config c: TransformerConfig) throws {
        config = c
        let d = c.hiddenSize, kvWidth = c.keyValueHeadCount * c.headDimension
        attentionNorm = try weights.vector(prefix + "input_layernorm.weight", count: d)
        query = try weights.linear(prefix + "self_attn.q_proj", out: d, in: d)
        key = try weights.linear(prefix + "self_attn.k_proj", out: kvWidth, in: d)
        value = try weights.linear(prefix + "self_attn.v_proj", out: kvWidth, in: d)
        output = try weights.linear(prefix + "self_attn.o_proj", out: d, in: d)
        mlpNorm = try weights.vector(prefix + "post_attention_layernorm.weight", count: d)
        gate = try weights.linear(prefix + "mlp.gate_proj", out: c.intermediateSize, in: d)
        up = try weights.linear(prefix + "mlp.up_proj", out: c.intermediateSize, in: d)
        down = try weights.linear(prefix + "mlp.down_proj", out: d, in: c.intermediateSize)
    }

    var attentionShape: AttentionShape {
        AttentionShape(headCount: config.headCount, keyValueHeadCount: config.keyValueHeadCount, headDimension: config.headDimension)
    }

    /// Runs the block over `count` rows of `hidden` ([count, hidden]) in place. Row r is at position
    /// r of `rope`'s table and sees the keys `keyRange(r)`.
    func forward(_ hidden: inout [Float], count: Int, rope: RotaryEmbedding, table: (cos: [Float], sin: [Float]),
                 keyRange: (Int) -> Range<Int>) {
        let normed = rmsNorm(hidden, rows: count, weight: attentionNorm, epsilon: config.normEpsilon)
        var q = query(normed, rows: count), k = key(normed, rows: count)
        let v = value(normed, rows: count)
        table.cos.withUnsafeBufferPointer { cosines in
            table.sin.withUnsafeBufferPointer { sines in
                rope.apply(&q, rows: count, heads: config.headCount, cos: cosines.baseAddress!, sin: sines.baseAddress!)
                rope.apply(&k, rows: count, heads: config.keyValueHeadCount, cos: cosines.baseAddress!, sin: sines.baseAddress!)
            }
        }
        var attended = [Float](repeating: 0, count: count * config.hiddenSize)
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    attended.withUnsafeMutableBufferPointer { op in
                        attention(queries: qp.baseAddress!, queryCount: count, keys: kp.baseAddress!, values: vp.baseAddress!,
                                  keyCount: count, shape: attentionShape, keyRange: keyRange, output: op.baseAddress!)
                    }
                }
            }
        }
        addInPlace(&hidden, output(attended, rows: count))
        feedForward(&hidden, count: count)
    }

    func feedForward(_ hidden: inout [Float], count: Int) {
        let normed = rmsNorm(hidden, rows: count, weight: mlpNorm, epsilon: config.normEpsilon)
        var g = gate(normed, rows: count)
        let u = up(normed, rows: count)
        g.withUnsafeMutableBufferPointer { gp in
            u.withUnsafeBufferPointer { siluMultiply(gp.baseAddress!, $0.baseAddress!, count: gp.count) }
        }
        addInPlace(&hidden, down(g, rows: count))
    }
}

func addInPlace(_ x: inout [Float], _ y: [Float]) {
    x.withUnsafeMutableBufferPointer { xp in
        y.withUnsafeBufferPointer { add(xp.baseAddress!, $0.baseAddress!, count: min(xp.count, $0.count)) }
    }
}

extension RotaryEmbedding {
    func apply(_ x: inout [Float], rows: Int, heads: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        x.withUnsafeMutableBufferPointer { apply($0.baseAddress!, rows: rows, heads: heads, cos: cos, sin: sin) }
    }
}

/// A stack of blocks over one sequence with causal (optionally windowed) self-attention:
/// the entropy model, the local encoder's layers and the global transformer.
final class TransformerStack: @unchecked Sendable {
    let config: TransformerConfig
    let layers: [TransformerBlock]
    let rope: RotaryEmbedding

    init(_ weights: WeightLoader, prefix: String, config: TransformerConfig) throws {
        self.config = config
        layers = try (0..<config.layerCount).map { try TransformerBlock(weights, prefix: "\(prefix)layers.\($0).", config: config) }
        rope = RotaryEmbedding(theta: config.ropeTheta, headDimension: config.headDimension)
    }

    func forward(_ hidden: inout [Float], count: Int) {
        let table = rope.table(positions: 0..<count)
        let window = config.slidingWindow
        for layer in layers {
            layer.forward(&hidden, count: count, rope: rope, table: table) { causalRange($0, window: window) }
        }
    }
}

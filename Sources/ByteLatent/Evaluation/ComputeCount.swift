/// Forward-pass FLOPs of BLT's four parts, counted from the config's shapes and the actual patches
/// (Docs/patching.md, "Compute accounting"). A multiply-add is 2 FLOPs; weight products and
/// attention's two products are counted; norms, RoPE, softmax, activations, pooling, residual adds
/// and the hash n-gram lookups are not (they are linear in the rows and small beside the products).
public struct ComputeCount: Sendable, Equatable {
    public var entropyModel = 0.0
    public var localEncoder = 0.0
    public var globalTransformer = 0.0
    public var localDecoder = 0.0

    public init() {}

    public var total: Double { entropyModel + localEncoder + globalTransformer + localDecoder }

    public static func + (a: ComputeCount, b: ComputeCount) -> ComputeCount {
        var sum = a
        sum += b
        return sum
    }

    public static func - (a: ComputeCount, b: ComputeCount) -> ComputeCount {
        var difference = a
        difference.entropyModel -= b.entropyModel
        difference.localEncoder -= b.localEncoder
        difference.globalTransformer -= b.globalTransformer
        difference.localDecoder -= b.localDecoder
        return difference
    }

    public static func += (a: inout ComputeCount, b: ComputeCount) {
        a.entropyModel += b.entropyModel
        a.localEncoder += b.localEncoder
        a.globalTransformer += b.globalTransformer
        a.localDecoder += b.localDecoder
    }

    /// Each part divided by `count` (e.g. FLOPs per scored byte).
    public func divided(by count: Int) -> ComputeCount {
        let n = Double(max(count, 1))
        var out = ComputeCount()
        out.entropyModel = entropyModel / n
        out.localEncoder = localEncoder / n
        out.globalTransformer = globalTransformer / n
        out.localDecoder = localDecoder / n
        return out
    }

    /// One forward pass over one sequence of `ids` ids cut into `patches` patches (every patch the
    /// global transformer runs: the BOS's and an empty trailing one included). The entropy model
    /// counts only when `entropyModel` (space and static patching never run it).
    public static func forward(_ c: BLTConfig, ids n: Int, patches p: Int, entropyModel runsEntropy: Bool) -> ComputeCount {
        let k = c.crossAttentionK, vocabulary = c.vocabularySize
        var out = ComputeCount()
        if runsEntropy {
            out.entropyModel = stack(c.patcher, rows: n) + linear(rows: n, input: c.patcher.hiddenSize, output: vocabulary)
        }
        let e = c.encoder, de = e.hiddenSize
        // Encoder: its layers over the bytes, the patch projection to k queries per patch, one
        // cross-attention from those queries to the bytes of their own patch (k·n keys in all).
        out.localEncoder = stack(e, rows: n) + linear(rows: p, input: de, output: k * de)
            + crossAttention(e, queries: p * k, keyRows: n, keysSeen: k * n)
        let g = c.global
        out.globalTransformer = (c.hasGlobalInputProjection ? linear(rows: p, input: k * de, output: g.hiddenSize) : 0)
            + stack(g, rows: p)
        // Decoder: the patch projection to k key rows per patch, cross-attention from every byte to
        // the k rows of one patch in each cross-attention layer, its layers, the LM head.
        let d = c.decoder, crossLayers = c.decoderCrossAttentionAllLayers ? d.layerCount : 1
        out.localDecoder = linear(rows: p, input: g.hiddenSize, output: k * d.hiddenSize)
            + Double(crossLayers) * crossAttention(d, queries: n, keyRows: p * k, keysSeen: k * n)
            + stack(d, rows: n) + linear(rows: n, input: d.hiddenSize, output: vocabulary)
        return out
    }

    /// rows × input × output multiply-adds.
    static func linear(rows: Int, input: Int, output: Int) -> Double { 2 * Double(rows) * Double(input) * Double(output) }

    /// Keys each of `rows` causal queries sees: min(i + 1, window), summed.
    static func causalKeys(rows n: Int, window: Int?) -> Double {
        let w = min(window ?? n, n)
        // Queries 0..<w see i + 1 keys, the rest w each.
        return Double(w) * Double(w + 1) / 2 + Double(n - w) * Double(w)
    }

    /// A stack of self-attention layers (q, k, v, o, SwiGLU) over `rows` sequence rows.
    static func stack(_ c: TransformerConfig, rows n: Int) -> Double {
        let d = c.hiddenSize, kv = c.keyValueHeadCount * c.headDimension
        let products = linear(rows: n, input: d, output: 2 * d + 2 * kv) + linear(rows: n, input: d, output: 3 * c.intermediateSize)
        // Q·Kᵀ and weights·V: 2 FLOPs × d (all heads) per query-key pair each.
        let attention = 4 * Double(d) * causalKeys(rows: n, window: c.slidingWindow)
        return Double(c.layerCount) * (products + attention)
    }

    /// One cross-attention: q and o over the queries, k and v over the key rows, attention over
    /// `keysSeen` query-key pairs in all.
    static func crossAttention(_ c: TransformerConfig, queries: Int, keyRows: Int, keysSeen: Int) -> Double {
        let d = c.hiddenSize, kv = c.keyValueHeadCount * c.headDimension
        return linear(rows: queries, input: d, output: 2 * d) + linear(rows: keyRows, input: d, output: 2 * kv)
            + 4 * Double(d) * Double(keysSeen)
    }
}

import Foundation

/// Shapes of one multi-head attention call. Queries are [queryCount, headCount·headDimension];
/// keys and values are [keyCount, keyValueHeadCount·headDimension] (grouped-query attention:
/// key/value head g serves query heads g·r ..< (g+1)·r).
struct AttentionShape {
    var headCount: Int
    var keyValueHeadCount: Int
    var headDimension: Int
    var queryWidth: Int { headCount * headDimension }
    var keyWidth: Int { keyValueHeadCount * headDimension }
}

/// The one attention routine of the engine (self-attention of all four transformers and both
/// cross-attentions). Masks are key ranges: query i sees keys `keyRange(i)`, softmax(q·kᵀ/√d)·v.
/// A query whose range is empty attends uniformly to all keys, which is what the reference's
/// additive `finfo.min` mask yields for a fully masked row (e.g. an empty trailing patch).
func attention(queries: UnsafePointer<Float>, queryCount: Int,
               keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyCount: Int,
               shape: AttentionShape, keyRange: (Int) -> Range<Int>,
               output: UnsafeMutablePointer<Float>) {
    let headDimension = shape.headDimension
    let group = shape.headCount / shape.keyValueHeadCount
    let scale = 1 / Float(headDimension).squareRoot()
    let blockSize = 32
    let blocks = (queryCount + blockSize - 1) / blockSize
    parallelFor(shape.headCount * blocks) { task in
        let head = task % shape.headCount, block = task / shape.headCount
        let kvHead = head / group
        var scores = [Float](repeating: 0, count: max(keyCount, 1))
        scores.withUnsafeMutableBufferPointer { scoresBuffer in
            let weights = scoresBuffer.baseAddress!
            for i in block * blockSize ..< min(queryCount, (block + 1) * blockSize) {
                var range = keyRange(i)
                let uniform = range.isEmpty
                if uniform { range = 0..<keyCount }
                let q = queries + i * shape.queryWidth + head * headDimension
                let out = output + i * shape.queryWidth + head * headDimension
                var maximum = -Float.infinity
                for (n, j) in range.enumerated() {
                    let s = uniform ? 0 : dot(q, keys + j * shape.keyWidth + kvHead * headDimension, headDimension) * scale
                    weights[n] = s
                    maximum = max(maximum, s)
                }
                var total: Float = 0
                for n in 0..<range.count {
                    let e = expf(weights[n] - maximum)
                    weights[n] = e
                    total += e
                }
                let inverse = 1 / total
                out.update(repeating: 0, count: headDimension)
                for (n, j) in range.enumerated() {
                    let p = weights[n] * inverse
                    let v = values + j * shape.keyWidth + kvHead * headDimension
                    for d in 0..<headDimension { out[d] += p * v[d] }
                }
            }
        }
    }
}

@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var i = 0
    var accumulator = SIMD8<Float>()
    while i + 8 <= count {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
        let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        accumulator += va * vb
        i += 8
    }
    var sum = accumulator.sum()
    while i < count { sum += a[i] * b[i]; i += 1 }
    return sum
}

/// Keys visible to query i in causal attention over positions, limited to the last `window` keys.
@inline(__always)
func causalRange(_ i: Int, window: Int?) -> Range<Int> {
    let lower = window.map { max(0, i - $0 + 1) } ?? 0
    return lower ..< i + 1
}

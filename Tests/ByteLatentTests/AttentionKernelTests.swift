import Foundation
import XCTest
import CKernels
import Safetensors
@testable import ByteLatent

/// Op-level checks of attention and what it is made of (softmax rows, RoPE, SwiGLU's gate, entropy)
/// against double-precision loops written out in the test, on every kernel path.
final class AttentionKernelTests: XCTestCase {
    /// Attention weights (`blt_softmax_row`) on every path against a double-precision softmax:
    /// spans of every length around the vector widths, scores far apart (e^-100 terms), a fully
    /// masked (uniform) row, an empty span (all zero), and zeros outside the span.
    func testSoftmaxRowMatchesDoublePrecisionOnEveryPath() {
        var g = TestValues(state: 43)
        forEachKernelPath { path in
            for (width, from, to, uniform) in [(1, 0, 1, false), (7, 2, 7, false), (40, 3, 37, false), (33, 0, 33, true),
                                               (20, 5, 5, false), (100, 0, 100, false), (17, 16, 17, false)] {
                var row = g.values(width).map { $0 * 30 }
                if width == 100 { row[10] = 120 }   // the rest lie ≥ 90 below: e^-90 and smaller
                let original = row
                blt_softmax_row(&row, width, from, to, uniform ? 1 : 0)
                let scores = (from..<to).map { uniform ? 0.0 : Double(original[$0]) }
                let maximum = scores.max() ?? 0
                let total = scores.map { exp($0 - maximum) }.reduce(0, +)
                for j in 0..<width {
                    let expected = (from..<to).contains(j) ? exp(scores[j - from] - maximum) / total : 0
                    XCTAssertEqual(Double(row[j]), expected, accuracy: 2e-7 * max(1, expected), "\(path) \(width) [\(from), \(to)) at \(j)")
                }
            }
        }
    }

    /// SwiGLU's gate (`blt_silu_multiply`) on every path against double precision, lengths around
    /// the vector widths, gates from −120 to 120 (e^120 overflows fp32).
    func testSiluMultiplyMatchesDoublePrecisionOnEveryPath() {
        var g = TestValues(state: 47)
        forEachKernelPath { path in
            for count in [1, 7, 8, 15, 16, 17, 100] {
                var gate = g.values(count).map { $0 * 8 }
                if count == 100 { gate[3] = -120; gate[4] = 120; gate[5] = -88; gate[6] = 0 }
                let up = g.values(count), original = gate
                blt_silu_multiply(&gate, up, count)
                for i in 0..<count {
                    let x = Double(original[i]), expected = x / (1 + exp(-x)) * Double(up[i])
                    XCTAssertEqual(Double(gate[i]), expected, accuracy: 4e-7 * max(1, abs(expected)), "\(path) \(count) at \(i) (gate \(x))")
                }
            }
        }
    }

    /// One query's attention (`blt_attend_one`, generation's) on every path against double
    /// precision: head dimensions around the 8- and 32-lane blocks, key rows wider than a head
    /// (`stride`), one key, a fully masked (uniform) query, and no keys (zeros); keys and values
    /// stored in fp32 and in bf16 (a bf16 KV cache: the reference reads the rounded values).
    func testAttendOneMatchesDoublePrecisionOnEveryPath() {
        var g = TestValues(state: 53)
        forEachKernelPath { path in
            for dtype in [WeightDType.f32, .bf16] {
                for (d, stride, count, uniform) in [(64, 192, 37, false), (12, 12, 1, false), (33, 40, 70, false), (96, 96, 9, true),
                                                     (7, 16, 5, false), (64, 64, 0, false)] {
                    let q = g.values(d).map { $0 * 3 }
                    var keys = g.values(max(count, 1) * stride), values = g.values(max(count, 1) * stride)
                    let keyBits = keys.map(FloatConversion.floatToBF16Bits), valueBits = values.map(FloatConversion.floatToBF16Bits)
                    if dtype == .bf16 { (keys, values) = (keyBits.map(FloatConversion.bf16ToFloat), valueBits.map(FloatConversion.bf16ToFloat)) }
                    var out = [Float](repeating: .nan, count: d), weights = [Float](repeating: .nan, count: max(count, 1))
                    let scale = 1 / Float(d).squareRoot()
                    if dtype == .bf16 {
                        blt_attend_one(dtype.kernelDType, q, keyBits, valueBits, stride, d, count, uniform ? 1 : 0, scale, &weights, &out)
                    } else {
                        blt_attend_one(dtype.kernelDType, q, keys, values, stride, d, count, uniform ? 1 : 0, scale, &weights, &out)
                    }
                    let scores = (0..<count).map { j in
                        uniform ? 0 : (0..<d).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[j * stride + $1]) } * Double(scale)
                    }
                    let maximum = scores.max() ?? 0, total = scores.map { exp($0 - maximum) }.reduce(0, +)
                    for c in 0..<d {
                        let expected = (0..<count).reduce(0.0) { $0 + exp(scores[$1] - maximum) / total * Double(values[$1 * stride + c]) }
                        XCTAssertEqual(Double(out[c]), expected, accuracy: 1e-6, "\(path) \(dtype) d \(d), \(count) keys, column \(c)")
                    }
                }
            }
        }
    }

    /// Attention over keys and values stored in bf16 (a bf16 KV cache), for a block of queries
    /// that sees only the last rows (the widened rows start past row 0) and for one query, on every
    /// path, against a double-precision masked softmax over the rounded values.
    func testAttentionOverBF16RowsMatchesDoublePrecisionOnEveryPath() {
        var g = TestValues(state: 59)
        let shape = AttentionShape(headCount: 4, keyValueHeadCount: 2, headDimension: 16)
        let keyCount = 90, window = 13
        let keyBits = g.values(keyCount * shape.keyWidth).map(FloatConversion.floatToBF16Bits)
        let valueBits = g.values(keyCount * shape.keyWidth).map(FloatConversion.floatToBF16Bits)
        let k = keyBits.map(FloatConversion.bf16ToFloat), v = valueBits.map(FloatConversion.bf16ToFloat)
        forEachKernelPath { path in
            for queryCount in [20, 1] {
                // The queries are the last positions, as after a cache append.
                let first = keyCount - queryCount
                let q = g.values(queryCount * shape.queryWidth)
                var out = [Float](repeating: .nan, count: queryCount * shape.queryWidth)
                keyBits.withUnsafeBytes { kp in valueBits.withUnsafeBytes { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        attention(queries: q, queryCount: queryCount,
                                  keysAndValues: KeyValueRows(keys: kp.baseAddress!, values: vp.baseAddress!, dtype: .bf16),
                                  keyCount: keyCount, shape: shape, keyRange: { causalRange(first + $0, window: window) },
                                  output: op.baseAddress!)
                    }
                } }
                var worst = 0.0
                for i in 0..<queryCount {
                    let visible = causalRange(first + i, window: window)
                    for h in 0..<shape.headCount {
                        let kvh = h / 2, d = shape.headDimension
                        let scores = visible.map { j in
                            (0..<d).reduce(0.0) { $0 + Double(q[i * shape.queryWidth + h * d + $1]) * Double(k[j * shape.keyWidth + kvh * d + $1]) }
                                / Double(d).squareRoot()
                        }
                        let m = scores.max()!, e = scores.map { exp($0 - m) }, total = e.reduce(0, +)
                        for c in 0..<d {
                            let o = zip(visible, e).reduce(0.0) { $0 + $1.1 / total * Double(v[$1.0 * shape.keyWidth + kvh * d + c]) }
                            worst = max(worst, abs(o - Double(out[i * shape.queryWidth + h * d + c])))
                        }
                    }
                }
                XCTAssertLessThan(worst, 1e-5, "\(path), \(queryCount) queries")
            }
        }
    }

    /// Rounding to bf16 kept as fp32 (a pass's keys and values under bf16 precision, in place;
    /// activations before widened products, into a copy) gives the values that
    /// `FloatConversion` rounds to (nearest even) and widens back: ties both ways, values that
    /// round up into the next binade and to infinity, infinities, a NaN (→ 0xFFFF, as torch on
    /// x86), subnormals and signed zeros.
    func testRoundingToBF16InPlaceMatchesTheConversion() {
        var g = TestValues(state: 67)
        let bitPatterns: [UInt32] = [0x3F80_8000, 0x3F81_8000, 0x3F80_7FFF, 0x3FFF_FFFF, 0x7F7F_FFFF, 0xFF7F_8000,
                                     0x7F80_0000, 0xFF80_0000, 0x7FC0_0001, 0x0000_0001, 0x8000_0000, 0x0000_0000]
        var x = bitPatterns.map(Float.init(bitPattern:)) + g.values(37).map { $0 * 1e3 }
        let expected = x.map { FloatConversion.bf16ToFloat(FloatConversion.floatToBF16Bits($0)).bitPattern }
        var copy = [Float](repeating: .nan, count: x.count)
        blt_round_floats_to_bf16(x, &copy, x.count)
        XCTAssertEqual(copy.map(\.bitPattern), expected)
        blt_round_floats_to_bf16(x, &x, x.count)
        XCTAssertEqual(x.map(\.bitPattern), expected)
        XCTAssertEqual(x[8].bitPattern, 0xFFFF_0000, "NaN")
        XCTAssertEqual(x[4], .infinity, "the largest float rounds up to infinity")
    }

    /// A KV cache under bf16 precision stores its rows rounded to bf16 (round to nearest even, as
    /// `FloatConversion` writes them): half the bytes of an fp32 cache, through appends, a
    /// truncation, a copy and a trim past twice the window.
    func testKVCacheStoresBF16RowsUnderBF16Precision() {
        var g = TestValues(state: 61)
        let width = 12, window = 4
        let single = KVCache(width: width, window: window), half = KVCache(width: width, window: window, precision: .bfloat16)
        var keys: [Float] = [], values: [Float] = []
        for rows in [3, 1, 5] {
            let k = g.values(rows * width), v = g.values(rows * width)
            single.append(keys: k, values: v, rows: rows)
            half.append(keys: k, values: v, rows: rows)
            keys += k; values += v
        }
        func bits(_ cache: KVCache) -> (keys: [UInt16], values: [UInt16]) {
            cache.withRows { rows in
                XCTAssertEqual(rows.dtype, .bf16)
                let n = cache.count * width
                return (Array(UnsafeBufferPointer(start: rows.keys.assumingMemoryBound(to: UInt16.self), count: n)),
                        Array(UnsafeBufferPointer(start: rows.values.assumingMemoryBound(to: UInt16.self), count: n)))
            }
        }
        XCTAssertEqual(single.storedBytes, 9 * width * 2 * 4)
        XCTAssertEqual(half.storedBytes, 9 * width * 2 * 2)
        XCTAssertEqual(bits(half).keys, keys.map(FloatConversion.floatToBF16Bits))
        XCTAssertEqual(bits(half).values, values.map(FloatConversion.floatToBF16Bits))
        half.truncate(to: 7)
        let copy = half.copy()
        XCTAssertEqual(copy.count, 7)
        XCTAssertEqual(bits(copy).keys, keys.prefix(7 * width).map(FloatConversion.floatToBF16Bits))
        XCTAssertEqual(copy.storedBytes, 7 * width * 2 * 2)
        let more = g.values(70 * width)
        copy.append(keys: more, values: more, rows: 70)
        copy.trim()   // 77 rows > 2 · 4 + 64: only the last 4 are kept
        XCTAssertEqual(copy.count, window)
        XCTAssertEqual(copy.endPosition, 77)
        XCTAssertEqual(bits(copy).values, more.suffix(window * width).map(FloatConversion.floatToBF16Bits))
        XCTAssertEqual(half.count, 7, "the copy is independent")
    }

    func testAttentionWithRangesMatchesDenseMaskedSoftmax() {
        var g = TestValues(state: 11)
        let shape = AttentionShape(headCount: 4, keyValueHeadCount: 2, headDimension: 12)
        let queryCount = 70, keyCount = 70, window = 9
        let q = g.values(queryCount * shape.queryWidth), k = g.values(keyCount * shape.keyWidth), v = g.values(keyCount * shape.keyWidth)
        var out = [Float](repeating: 0, count: queryCount * shape.queryWidth)
        let ranges: (Int) -> Range<Int> = { i in i == 5 ? 0..<0 : causalRange(i, window: window) }
        q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
            out.withUnsafeMutableBufferPointer { op in
                attention(queries: qp.baseAddress!, queryCount: queryCount,
                          keysAndValues: KeyValueRows(keys: kp.baseAddress!, values: vp.baseAddress!), keyCount: keyCount,
                          shape: shape, keyRange: ranges, output: op.baseAddress!)
            }
        } } }
        // Dense reference: additive mask with Float.leastNormalMagnitude-style "finfo.min" semantics.
        var worst: Float = 0
        for i in 0..<queryCount {
            for h in 0..<shape.headCount {
                let kvh = h / 2
                var scores = [Double](repeating: 0, count: keyCount)
                for j in 0..<keyCount {
                    var s = 0.0
                    for d in 0..<12 { s += Double(q[i * 48 + h * 12 + d]) * Double(k[j * 24 + kvh * 12 + d]) }
                    let visible = i != 5 && j <= i && j > i - window
                    scores[j] = i == 5 ? 0 : (visible ? s / 12.0.squareRoot() : -Double.infinity)
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }
                let total = e.reduce(0, +)
                for d in 0..<12 {
                    var o = 0.0
                    for j in 0..<keyCount { o += e[j] / total * Double(v[j * 24 + kvh * 12 + d]) }
                    worst = max(worst, abs(Float(o) - out[i * 48 + h * 12 + d]))
                }
            }
        }
        XCTAssertLessThan(worst, 1e-5)
    }

    /// bf16-precision attention on every path: AMX tiles on the amx path (q, k, v and the softmax
    /// weights rounded to bf16, as torch's bf16 attention) against a double-precision loop over
    /// the same roundings; fp32 attention elsewhere. Head dimension 64 and 128, grouped-query
    /// heads, sliding windows, two packed sequences (blocks cut at 30), key counts off the 32-key
    /// tiles, a fully masked row (uniform over all keys), one uniform over its own sequence.
    func testBF16AttentionMatchesRoundedReferenceOnEveryPath() {
        var g = TestValues(state: 53)
        func bf16(_ x: Float) -> Double { Double(FloatConversion.bf16ToFloat(FloatConversion.floatToBF16Bits(x))) }
        forEachKernelPath { path in
            for (d, queryCount, window) in [(64, 75, 40), (128, 37, 1000), (32, 1, 8)] {
                let shape = AttentionShape(headCount: 4, keyValueHeadCount: 2, headDimension: d)
                let groups = queryCount > 30 ? [0..<30, 30..<queryCount] : [0..<queryCount]
                let group = { (i: Int) in groups.first { $0.contains(i) }! }
                let keyRange = { (i: Int) -> Range<Int> in
                    i == 5 || i == 40 ? 0..<0 : max(group(i).lowerBound, i - window + 1) ..< i + 1
                }
                let masked = { (i: Int) -> Range<Int> in i == 40 ? group(i) : 0..<queryCount }
                let q = g.values(queryCount * shape.queryWidth)
                let k = g.values(queryCount * shape.keyWidth), v = g.values(queryCount * shape.keyWidth)
                var out = [Float](repeating: .nan, count: queryCount * shape.queryWidth)
                q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        attention(queries: qp.baseAddress!, queryCount: queryCount,
                                  keysAndValues: KeyValueRows(keys: kp.baseAddress!, values: vp.baseAddress!), keyCount: queryCount, shape: shape, keyRange: keyRange, fullyMaskedRange: masked,
                                  queryGroups: groups, precision: .bfloat16, output: op.baseAddress!)
                    }
                } } }
                // Two references: every value rounded as on the tiles, and plain fp32 inputs.
                var worstRounded = 0.0, worstPlain = 0.0
                for i in 0..<queryCount {
                    let visible = keyRange(i).isEmpty ? masked(i) : keyRange(i), uniform = keyRange(i).isEmpty
                    for h in 0..<shape.headCount {
                        let kvh = h / 2
                        for rounded in [true, false] {
                            let value = { (x: Float) in rounded ? bf16(x) : Double(x) }
                            let scores = visible.map { j -> Double in
                                guard !uniform else { return 0 }
                                var s = 0.0
                                for c in 0..<d { s += value(q[i * shape.queryWidth + h * d + c]) * value(k[j * shape.keyWidth + kvh * d + c]) }
                                return s / Double(d).squareRoot()
                            }
                            let top = scores.max()!
                            let total = scores.map { exp($0 - top) }.reduce(0, +)
                            let weights = scores.map { rounded ? bf16(Float(exp($0 - top) / total)) : exp($0 - top) / total }
                            for c in 0..<d {
                                var o = 0.0
                                for (n, j) in visible.enumerated() { o += weights[n] * value(v[j * shape.keyWidth + kvh * d + c]) }
                                let result = Double(out[i * shape.queryWidth + h * d + c])
                                let error = result.isNaN ? .infinity : abs(o - result)   // NaN: never written
                                if rounded { worstRounded = max(worstRounded, error) } else { worstPlain = max(worstPlain, error) }
                            }
                        }
                    }
                }
                let label = "\(path) d \(d), \(queryCount) queries"
                if path == .amx && queryCount > 1 {
                    XCTAssertLessThan(worstRounded, 1e-5, label)
                    XCTAssertGreaterThan(worstPlain, 5e-4, "\(label) did not round")
                } else {   // fp32 attention (a single query, generation, stays fp32 on every path)
                    XCTAssertLessThan(worstPlain, 1e-5, label)
                }
                print("bf16 attention, \(label): worst \(worstRounded) against the rounded reference, \(worstPlain) against fp32")
            }
        }
    }

    func testRoPERotatesInterleavedPairs() {
        let rope = RotaryEmbedding(theta: 10_000, headDimension: 4)
        let table = rope.table(positions: 0..<3)
        var x: [Float] = [1, 2, 3, 4]   // one row, one head, at position 2
        let atTwo = RotaryTable(headDimension: 4, cosines: Array(table.cosines[4..<6]), sines: Array(table.sines[4..<6]))
        atTwo.apply(&x, rows: 1, heads: 1)
        // pair 0 has frequency 1, pair 1 has frequency 1/100.
        let a0 = 2.0, a1 = 2.0 / 100
        let expected = [1 * cos(a0) - 2 * sin(a0), 2 * cos(a0) + 1 * sin(a0), 3 * cos(a1) - 4 * sin(a1), 4 * cos(a1) + 3 * sin(a1)]
        for (got, want) in zip(x, expected) { XCTAssertEqual(Double(got), want, accuracy: 1e-6) }
    }

    /// Heads wide enough for the 8-pair vector steps (head dimension 24: one step and a 4-pair
    /// tail; 64 and 128 as in blt-1b), many rows on several cores, against the rotation written
    /// out in double precision from the table's own cos/sin: equal to fp32 rounding.
    func testRoPEOnWideHeadsMatchesRotationWrittenOut() {
        var g = TestValues(state: 61)
        for (headDimension, heads, rows) in [(24, 3, 5), (64, 12, 300), (128, 2, 40)] {
            let table = RotaryEmbedding(theta: 500_000, headDimension: headDimension).table(positions: 7..<(7 + rows))
            let original = g.values(rows * heads * headDimension)
            var x = original
            table.apply(&x, rows: rows, heads: heads)
            let half = headDimension / 2
            var worst = 0.0
            for r in 0..<rows { for h in 0..<heads { for i in 0..<half {
                let base = (r * heads + h) * headDimension + 2 * i
                let c = Double(table.cosines[r * half + i]), s = Double(table.sines[r * half + i])
                let a = Double(original[base]), b = Double(original[base + 1])
                worst = max(worst, abs(Double(x[base]) - (a * c - b * s)), abs(Double(x[base + 1]) - (b * c + a * s)))
            } } }
            XCTAssertLessThan(worst, 3e-7, "head dimension \(headDimension)")
        }
    }

    func testEntropyOfUniformAndPeakedDistributions() {
        let uniform = [Float](repeating: 0.5, count: 260)
        XCTAssertEqual(Patching.entropies(logits: uniform, width: 260)[0], Float(log(260.0)), accuracy: 1e-5)
        var peaked = [Float](repeating: -1000, count: 260)
        peaked[7] = 0
        XCTAssertEqual(Patching.entropies(logits: peaked, width: 260)[0], 0, accuracy: 1e-6)
    }
}

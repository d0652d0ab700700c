import XCTest
import CKernels
import Safetensors
@testable import ByteLatent
import ByteLatentBenchmarks

/// Op-level checks of the numerics against naive loops written out in the test.
final class KernelTests: XCTestCase {
    struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        mutating func values(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
    }

    func naiveLinear(_ x: [Float], rows: Int, _ w: [Float], out: Int, in inputs: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * out)
        for r in 0..<rows { for o in 0..<out {
            var s: Double = 0
            for i in 0..<inputs { s += Double(x[r * inputs + i]) * Double(w[o * inputs + i]) }
            y[r * out + o] = Float(s)
        } }
        return y
    }

    func testLinearMatchesNaiveLoopsOnOddShapes() {
        var g = Generator(state: 7)
        // (rows, out, in): 1×1, 3×5×7, single rows (sgemv path), single outputs, larger.
        for (rows, out, inputs) in [(1, 1, 1), (3, 5, 7), (1, 37, 19), (1, 300, 1000), (11, 1, 13), (64, 96, 130), (257, 260, 48)] {
            let x = g.values(rows * inputs), w = g.values(out * inputs)
            let linear = Linear(weight: WeightMatrix(rows: out, columns: inputs, values: w))
            let y = linear(x, rows: rows)
            let expected = naiveLinear(x, rows: rows, w, out: out, in: inputs)
            XCTAssertEqual(y.count, expected.count)
            let worst = zip(y, expected).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-4 * Float(inputs).squareRoot(), "\(rows)×\(out)×\(inputs)")
        }
    }

    /// Runs `body` once per kernel path this CPU supports (generic, avx2, avx512, avx512bf16, amx), then
    /// restores the path in use. Prints the paths, so the test log names what ran.
    func forEachKernelPath(_ body: (KernelPath) throws -> Void) rethrows {
        let original = KernelPath.active
        defer { KernelPath.select(original) }
        let paths = KernelPath.supported
        XCTAssertTrue(paths.contains(.generic))
        print("kernel paths tested on this CPU: \(paths.map(\.description).joined(separator: ", ")) (active by default: \(original))")
        for path in paths {
            XCTAssertTrue(KernelPath.select(path))
            XCTAssertEqual(KernelPath.active, path)
            try body(path)
        }
    }

    /// Stored bits and their exact Float values (the oracle widens with the safetensors module's
    /// own conversions, not the C kernels).
    func halfWidthWeights(_ values: [Float], dtype: WeightDType) -> (bits: [UInt16], exact: [Float]) {
        switch dtype {
        case .bf16:
            let bits = values.map { FloatConversion.floatToBF16Bits($0) }
            return (bits, bits.map { FloatConversion.bf16ToFloat($0) })
        default:
            let bits = values.map { FloatConversion.floatToF16Bits($0) }
            return (bits, bits.map { FloatConversion.f16ToFloat($0) })
        }
    }

    /// bf16 and f16 weight products on every kernel path against a naive double-precision loop:
    /// one row (matrix-vector), a few rows (the direct kernels), many rows (widened panels + sgemm),
    /// odd widths (tails of every SIMD width), single outputs.
    func testHalfWidthProductsMatchNaiveLoopsOnEveryPath() {
        var g = Generator(state: 13)
        let shapes = [(1, 1, 1), (1, 3, 7), (1, 37, 19), (1, 5, 31), (1, 17, 33), (1, 300, 1000), (2, 5, 31), (3, 17, 33),
                      (4, 9, 16), (5, 64, 130), (7, 3, 47), (8, 33, 17), (9, 33, 17), (11, 1, 13), (40, 96, 130), (257, 260, 48)]
        forEachKernelPath { path in
            for dtype in [WeightDType.bf16, .f16] {
                for (rows, out, inputs) in shapes {
                    let x = g.values(rows * inputs)
                    let (bits, exact) = halfWidthWeights(g.values(out * inputs), dtype: dtype)
                    let y = Linear(weight: WeightMatrix(rows: out, columns: inputs, dtype: dtype, bits: bits))(x, rows: rows)
                    let expected = naiveLinear(x, rows: rows, exact, out: out, in: inputs)
                    let worst = zip(y, expected).map { abs($0 - $1) }.max() ?? .infinity
                    XCTAssertLessThan(worst, 1e-4 * Float(inputs).squareRoot(), "\(path) \(dtype) \(rows)×\(out)×\(inputs)")
                }
            }
        }
    }

    /// Each way of multiplying many rows — the C target's blocked GEMM, widened panels + OpenBLAS
    /// sgemm, the direct kernel — on every path and weight dtype, whichever one Linear would pick
    /// on this CPU (which depends on OpenBLAS's kernel for it).
    func testEveryProductBackendMatchesNaiveLoops() {
        var g = Generator(state: 17)
        let backends: [(String, (UnsafePointer<Float>, Int, WeightMatrix, UnsafeMutablePointer<Float>) -> Void)] = [
            ("blocked", { DTypeKernels.blockedProduct($0, rows: $1, weight: $2, into: $3) }),
            ("widen+sgemm", { DTypeKernels.widenedProduct($0, rows: $1, weight: $2, into: $3) }),
            ("direct", { DTypeKernels.directProduct($0, rows: $1, weight: $2, into: $3) }),
        ]
        print("on this machine: \(KernelBenchmark.backends)")
        forEachKernelPath { path in
            for dtype in WeightDType.allCases {
                // (37, 33, 600): three column blocks of the AVX-512 packed panels (256 + 256 + 88);
                // (530, 35, 40): two row blocks (512 + 18).
                for (rows, out, inputs) in [(2, 3, 5), (9, 65, 17), (13, 130, 33), (70, 129, 130), (37, 33, 600), (530, 35, 40)] {
                    let x = g.values(rows * inputs), values = g.values(out * inputs)
                    let weight: WeightMatrix, exact: [Float]
                    if dtype == .f32 {
                        (weight, exact) = (WeightMatrix(rows: out, columns: inputs, values: values), values)
                    } else {
                        let (bits, widened) = halfWidthWeights(values, dtype: dtype)
                        (weight, exact) = (WeightMatrix(rows: out, columns: inputs, dtype: dtype, bits: bits), widened)
                    }
                    let expected = naiveLinear(x, rows: rows, exact, out: out, in: inputs)
                    for (name, product) in backends where !(name == "direct" && dtype == .f32) {
                        var y = [Float](repeating: .nan, count: rows * out)
                        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { product(xp.baseAddress!, rows, weight, $0.baseAddress!) } }
                        let worst = zip(y, expected).map { abs($0 - $1) }.max() ?? .infinity
                        XCTAssertLessThan(worst, 1e-4 * Float(inputs).squareRoot(), "\(path) \(name) \(dtype) \(rows)×\(out)×\(inputs)")
                    }
                }
            }
        }
    }

    /// The direct C kernel for every row count 1…9 and a row sub-range, so that tiles and partial
    /// tiles are covered whatever the Linear's dispatch threshold is.
    func testDirectKernelOnRowSubrangesAndEveryTileRemainder() {
        var g = Generator(state: 21)
        let out = 13, inputs = 37
        let (bits, exact) = halfWidthWeights(g.values(out * inputs), dtype: .bf16)
        forEachKernelPath { path in
            for rows in 1...9 {
                let x = g.values(rows * inputs)
                var y = [Float](repeating: -7, count: rows * out)
                bits.withUnsafeBytes { w in x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                    blt_matmul(WeightDType.bf16.kernelDType, w.baseAddress!, inputs, xp.baseAddress!, rows, yp.baseAddress!, out, 3, 10)
                } } }
                let expected = naiveLinear(x, rows: rows, exact, out: out, in: inputs)
                for r in 0..<rows { for o in 0..<out {
                    if (3..<10).contains(o) {
                        XCTAssertEqual(y[r * out + o], expected[r * out + o], accuracy: 1e-4 * Float(inputs).squareRoot(), "\(path) rows \(rows) [\(r), \(o)]")
                    } else {
                        XCTAssertEqual(y[r * out + o], -7, "\(path) wrote outside its row range")
                    }
                } }
            }
        }
    }

    /// Widening and row sums (embeddings) are exact on every path, NaN/inf/subnormals included.
    func testWidenAndAddRowAreExactOnEveryPath() {
        var g = Generator(state: 5)
        var bf16Bits = g.values(77).map { FloatConversion.floatToBF16Bits($0 * 1e3) }
        bf16Bits += [0x7F80, 0xFF80, 0x0001, 0x8000, 0x7FC1]
        var f16Bits = g.values(77).map { FloatConversion.floatToF16Bits($0 * 100) }
        f16Bits += [0x7C00, 0xFC00, 0x0001, 0x03FF, 0x8000, 0x7E01]
        forEachKernelPath { path in
            for (dtype, bits) in [(WeightDType.bf16, bf16Bits), (.f16, f16Bits)] {
                let exact = bits.map { dtype == .bf16 ? FloatConversion.bf16ToFloat($0) : FloatConversion.f16ToFloat($0) }
                let matrix = WeightMatrix(rows: 1, columns: bits.count, dtype: dtype, bits: bits)
                XCTAssertEqual(matrix.floats().map(\.bitPattern), exact.map(\.bitPattern), "\(path) \(dtype) widen")
                var sums = [Float](repeating: 0.25, count: bits.count)
                sums.withUnsafeMutableBufferPointer { matrix.addRow(0, to: $0.baseAddress!) }
                for (got, value) in zip(sums, exact) where value.isFinite {
                    XCTAssertEqual(got.bitPattern, (value + 0.25).bitPattern, "\(path) \(dtype) addRow")
                }
            }
        }
    }

    /// bf16 precision: activations rounded to bf16 (torch's rounding), bf16 × bf16 products summed
    /// in fp32 — `vdpbf16ps` on the avx512bf16 path, AMX tiles on the amx path (from 16 rows, k a
    /// multiple of 32: whole 32 × 32 blocks, blocks cut by the edges of y, several blocks of x and
    /// of weight rows, several passes of 256 weight rows per core with a cut one last) — against a
    /// naive loop over the rounded values.
    func testBF16PrecisionProductsMatchNaiveLoopOverRoundedActivations() {
        var g = Generator(state: 31)
        forEachKernelPath { path in
            for (rows, out, inputs) in [(1, 1, 1), (1, 37, 19), (1, 9, 64), (3, 17, 33), (4, 8, 32), (9, 33, 65), (70, 40, 130),
                                        (16, 32, 32), (32, 64, 64), (33, 17, 96), (70, 97, 128), (100, 40, 1024), (40, 1100, 64)] {
                let x = g.values(rows * inputs)
                let (bits, exact) = halfWidthWeights(g.values(out * inputs), dtype: .bf16)
                let linear = Linear(weight: WeightMatrix(rows: out, columns: inputs, dtype: .bf16, bits: bits), precision: .bfloat16)
                let y = linear(x, rows: rows)
                let rounded = x.map { FloatConversion.bf16ToFloat(FloatConversion.floatToBF16Bits($0)) }
                let expected = naiveLinear(rounded, rows: rows, exact, out: out, in: inputs)
                let worst = zip(y, expected).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(worst, 1e-4 * Float(inputs).squareRoot(), "\(path) bf16 precision \(rows)×\(out)×\(inputs)")
                // And it really rounds: the fp32 product of the unrounded x differs somewhere.
                if rows * inputs > 8 {
                    let unrounded = naiveLinear(x, rows: rows, exact, out: out, in: inputs)
                    XCTAssertGreaterThan(zip(y, unrounded).map { abs($0 - $1) }.max() ?? 0, 1e-6, "\(path) did not round")
                }
            }
        }
    }

    /// Several layers applied together (q, k and v: x packed once for all on AMX tiles) give each
    /// layer's own product bit for bit, in both precisions on every path, with outputs of
    /// different widths (one off the 32-row panels) and rows below and above the tiles' minimum.
    func testLayersAppliedTogetherEqualEachAlone() {
        var g = Generator(state: 59)
        forEachKernelPath { path in
            for precision in Precision.allCases {
                for rows in [1, 15, 40] {
                    let inputs = 64
                    let layers = [96, 32, 70].map { out in
                        Linear(weight: WeightMatrix(rows: out, columns: inputs, dtype: .bf16,
                                                    bits: halfWidthWeights(g.values(out * inputs), dtype: .bf16).bits),
                               precision: precision)
                    }
                    let x = g.values(rows * inputs)
                    let together = Linear.apply(layers, to: x, rows: rows)
                    XCTAssertEqual(together.count, 3)
                    for (layer, output) in zip(layers, together) {
                        XCTAssertEqual(output, layer(x, rows: rows), "\(path) \(precision) \(rows) rows, \(layer.outputSize) outputs")
                    }
                }
            }
        }
    }

    /// Attention's products (`blt_activation_product`, the C tiles) on every path against a naive
    /// loop: both layouts of B, strides wider than the rows, alpha, every tile remainder of rows
    /// and columns (8 × 32 on AVX-512, 4 × 16 on AVX2), k of 1.
    func testActivationProductsMatchNaiveLoopsOnEveryPath() {
        var g = Generator(state: 41)
        forEachKernelPath { path in
            for (m, n, k) in [(1, 1, 1), (3, 5, 7), (8, 32, 16), (9, 33, 64), (64, 70, 128), (13, 17, 1), (70, 16, 33)] {
                for transposeB in [true, false] {
                    let lda = k + 3, ldb = (transposeB ? k : n) + 5, ldc = n + 2
                    let a = g.values(m * lda), b = g.values((transposeB ? n : k) * ldb)
                    var c = [Float](repeating: .nan, count: m * ldc)
                    let alpha: Float = 0.37
                    let status = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                        blt_activation_product(transposeB ? 1 : 0, m, n, k, alpha, ap.baseAddress!, lda, bp.baseAddress!, ldb, cp.baseAddress!, ldc)
                    } } }
                    XCTAssertEqual(status, 0)
                    var worst: Double = 0
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0
                            for p in 0..<k { sum += Double(a[i * lda + p]) * Double(transposeB ? b[j * ldb + p] : b[p * ldb + j]) }
                            worst = max(worst, abs(Double(alpha) * sum - Double(c[i * ldc + j])))
                        }
                        for j in n..<ldc { XCTAssertTrue(c[i * ldc + j].isNaN, "\(path) wrote past column \(n)") }
                    }
                    XCTAssertLessThan(worst, 1e-5 * Double(k).squareRoot(), "\(path) \(m)×\(n)×\(k) transposeB \(transposeB)")
                }
            }
        }
    }

    /// Attention weights (`blt_softmax_row`) on every path against a double-precision softmax:
    /// spans of every length around the vector widths, scores far apart (e^-100 terms), a fully
    /// masked (uniform) row, an empty span (all zero), and zeros outside the span.
    func testSoftmaxRowMatchesDoublePrecisionOnEveryPath() {
        var g = Generator(state: 43)
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
        var g = Generator(state: 47)
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

    func testAttentionWithRangesMatchesDenseMaskedSoftmax() {
        var g = Generator(state: 11)
        let shape = AttentionShape(headCount: 4, keyValueHeadCount: 2, headDimension: 12)
        let queryCount = 70, keyCount = 70, window = 9
        let q = g.values(queryCount * shape.queryWidth), k = g.values(keyCount * shape.keyWidth), v = g.values(keyCount * shape.keyWidth)
        var out = [Float](repeating: 0, count: queryCount * shape.queryWidth)
        let ranges: (Int) -> Range<Int> = { i in i == 5 ? 0..<0 : causalRange(i, window: window) }
        q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
            out.withUnsafeMutableBufferPointer { op in
                attention(queries: qp.baseAddress!, queryCount: queryCount, keys: kp.baseAddress!, values: vp.baseAddress!,
                          keyCount: keyCount, shape: shape, keyRange: ranges, output: op.baseAddress!)
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
        var g = Generator(state: 53)
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
                        attention(queries: qp.baseAddress!, queryCount: queryCount, keys: kp.baseAddress!, values: vp.baseAddress!,
                                  keyCount: queryCount, shape: shape, keyRange: keyRange, fullyMaskedRange: masked,
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
        var g = Generator(state: 61)
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

    /// BLT_CPU / BLT_GEMM values this CPU cannot honour are `KernelConfigurationError`s naming what it
    /// runs: the decision behind `KernelPath.checkEnvironment`, on given values (the process's own
    /// are read once).
    /// OPENBLAS_CORETYPE=SkylakeX on an AVX2-only CPU (a Zen 3) makes OpenBLAS run AVX-512 kernels:
    /// refused before any product instead of dying with SIGILL; cores the CPU has pass.
    func testOpenBLASCoreForInstructionsThisCPULacksIsRefused() {
        let zen3: [KernelPath] = [.generic, .avx2], noAVX2: [KernelPath] = [.generic]
        for core in ["SkylakeX", "Cooperlake", "SAPPHIRERAPIDS"] {
            XCTAssertThrowsError(try KernelPath.check(openBLASCore: core, supported: zen3), core) {
                XCTAssertEqual($0 as? KernelConfigurationError, .openBLASCoreUnsupported(core: core, needs: .avx512, supported: zen3))
            }
        }
        for core in ["Haswell", "Zen", "Prescott", "Sandybridge", "unknown"] {
            XCTAssertNoThrow(try KernelPath.check(openBLASCore: core, supported: zen3), core)
        }
        XCTAssertThrowsError(try KernelPath.check(openBLASCore: "Haswell", supported: noAVX2)) {
            XCTAssertEqual("\($0)", "OpenBLAS runs its Haswell kernels (OPENBLAS_CORETYPE), which need avx2 instructions this CPU lacks (it runs: generic); unset OPENBLAS_CORETYPE, or set it to a core this CPU has (Haswell for AVX2)")
        }
        XCTAssertNoThrow(try KernelPath.check(openBLASCore: "Prescott", supported: noAVX2))
        // This run's own core is one this CPU runs (the test matrix forces several).
        XCTAssertNoThrow(try KernelPath.check(openBLASCore: ManyRowBackend.openBLASCore, supported: KernelPath.supported))
    }

    func testKernelSettingsThisCPUCannotHonourAreErrors() {
        let supported = KernelPath.supported, best = Int32(blt_best_path())
        let runs = "this CPU runs: \(supported.map(\.description).joined(separator: ", ")) (unset BLT_CPU to use the best)"
        XCTAssertEqual(KernelPath(rawValue: best), supported.last)
        for unset in [nil, ""] {
            XCTAssertEqual(PathRequest(unset), .unset)
            XCTAssertEqual(BackendRequest(unset), .unset)
        }
        XCTAssertNoThrow(try KernelPath.check(cpu: .unset, gemm: .unset))
        for path in KernelPath.allCases {
            var runsPath: Int32 = -1
            let request = blt_resolve_request(path.description, &runsPath)
            if supported.contains(path) {
                XCTAssertEqual(request, Int32(BLT_REQUEST_HONOURED.rawValue))
                XCTAssertEqual(runsPath, path.rawValue)
                XCTAssertEqual(PathRequest(path.description), .honoured(path))
                XCTAssertNoThrow(try KernelPath.check(cpu: PathRequest(path.description), gemm: .unset))
            } else {
                XCTAssertEqual(request, Int32(BLT_REQUEST_UNSUPPORTED.rawValue))
                XCTAssertEqual(runsPath, best, "the best path runs, and the engine refuses")
                XCTAssertEqual(PathRequest(path.description), .unsupported(path))
                XCTAssertThrowsError(try KernelPath.check(cpu: PathRequest(path.description), gemm: .unset)) {
                    XCTAssertEqual($0 as? KernelConfigurationError, .unsupportedPath(path, supported: supported))
                    XCTAssertEqual("\($0)", "BLT_CPU=\(path) asks for a kernel path this CPU cannot run; \(runs)")
                }
            }
        }
        // Names are exact: no case folding, no trimming.
        for word in ["nonsense", "AVX2", " avx2", "avx2 "] {
            var runsPath: Int32 = -1
            XCTAssertEqual(blt_resolve_request(word, &runsPath), Int32(BLT_REQUEST_UNKNOWN.rawValue), word)
            XCTAssertEqual(runsPath, best)
            XCTAssertThrowsError(try KernelPath.check(cpu: PathRequest(word), gemm: .unset)) {
                XCTAssertEqual($0 as? KernelConfigurationError, .unknownPath(word, supported: supported))
            }
        }
        XCTAssertEqual("\(KernelConfigurationError.unknownPath("nonsense", supported: supported))",
                       "BLT_CPU=\"nonsense\" names no kernel path (generic, avx2, avx512, avx512bf16, amx); \(runs)")

        for backend in ManyRowBackend.allCases {
            XCTAssertEqual(BackendRequest(backend.rawValue), .honoured(backend))
            XCTAssertNoThrow(try KernelPath.check(cpu: .unset, gemm: .honoured(backend)))
            let choice = ManyRowBackend.choose(gemm: .honoured(backend), cpu: .unset)
            XCTAssertEqual(choice.backend, backend)
            XCTAssertTrue(choice.reason.hasPrefix("forced by BLT_GEMM; OpenBLAS"), choice.reason)
        }
        XCTAssertEqual(BackendRequest("OpenBLAS"), .unknown("OpenBLAS"))
        XCTAssertThrowsError(try KernelPath.check(cpu: .unset, gemm: BackendRequest("nonsense"))) {
            XCTAssertEqual($0 as? KernelConfigurationError, .unknownBackend("nonsense"))
            XCTAssertEqual("\($0)", "BLT_GEMM=\"nonsense\" names no many-row backend; this CPU runs: openblas, blocked (unset BLT_GEMM to let the engine choose)")
        }
        // An unknown BLT_GEMM leaves the choice to the engine (and is refused); BLT_CPU is reported first.
        XCTAssertEqual(ManyRowBackend.choose(gemm: .unknown("nonsense"), cpu: .unset).backend,
                       ManyRowBackend.choose(gemm: .unset, cpu: .unset).backend)
        XCTAssertThrowsError(try KernelPath.check(cpu: .unknown("x"), gemm: .unknown("y"))) {
            XCTAssertEqual($0 as? KernelConfigurationError, .unknownPath("x", supported: supported))
        }

        // The process's own settings, as the C target recorded BLT_CPU: the tests run with good ones.
        XCTAssertEqual(PathRequest.environment, PathRequest(ProcessInfo.processInfo.environment["BLT_CPU"]))
        XCTAssertEqual(BackendRequest.environment, BackendRequest(ProcessInfo.processInfo.environment["BLT_GEMM"]))
        XCTAssertNoThrow(try KernelPath.checkEnvironment())
    }
}

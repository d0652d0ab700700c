import XCTest
@testable import ByteLatent

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
            let linear = Linear(weight: FloatMatrix(rows: out, columns: inputs, values: w))
            let y = linear(x, rows: rows)
            let expected = naiveLinear(x, rows: rows, w, out: out, in: inputs)
            XCTAssertEqual(y.count, expected.count)
            let worst = zip(y, expected).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-4 * Float(inputs).squareRoot(), "\(rows)×\(out)×\(inputs)")
        }
    }

    /// The bf16 matrix-vector kernel of generation against a naive loop, including odd widths
    /// (the scalar tail) and widths below one SIMD block.
    func testBF16MatrixVectorMatchesNaiveLoop() {
        var g = Generator(state: 13)
        for (rows, columns) in [(1, 1), (3, 7), (5, 31), (17, 33), (64, 130), (300, 1024)] {
            let bits = g.values(rows * columns).map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
            let x = g.values(columns)
            var y = [Float](repeating: .nan, count: rows)
            bits.withUnsafeBufferPointer { w in
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer {
                        bf16MatrixVector(w.baseAddress!, rows: rows, columns: columns, x: xp.baseAddress!, y: $0.baseAddress!)
                    }
                }
            }
            for r in 0..<rows {
                var expected = 0.0
                for i in 0..<columns { expected += Double(Float(bitPattern: UInt32(bits[r * columns + i]) << 16)) * Double(x[i]) }
                XCTAssertEqual(Double(y[r]), expected, accuracy: 1e-4 * Double(columns).squareRoot(), "\(rows)×\(columns) row \(r)")
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

    func testEntropyOfUniformAndPeakedDistributions() {
        let uniform = [Float](repeating: 0.5, count: 260)
        XCTAssertEqual(entropies(logits: uniform, width: 260)[0], Float(log(260.0)), accuracy: 1e-5)
        var peaked = [Float](repeating: -1000, count: 260)
        peaked[7] = 0
        XCTAssertEqual(entropies(logits: peaked, width: 260)[0], 0, accuracy: 1e-6)
    }
}

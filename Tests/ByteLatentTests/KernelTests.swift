import XCTest
import CKernels
import Safetensors
@testable import ByteLatent
import ByteLatentBenchmarks

/// Op-level checks of the numerics against naive loops written out in the test.
final class KernelTests: XCTestCase {
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
        var g = TestValues(state: 7)
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
        var g = TestValues(state: 13)
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
        var g = TestValues(state: 17)
        let backends: [(String, (UnsafePointer<Float>, Int, WeightMatrix, UnsafeMutablePointer<Float>) -> Void)] = [
            ("blocked", { DTypeKernels.blockedProduct($0, rows: $1, weight: $2, into: $3) }),
            ("widen+sgemm", { DTypeKernels.widenedProduct($0, rows: $1, weight: $2, into: $3) }),
            ("direct", { DTypeKernels.directProduct($0, rows: $1, weight: $2, into: $3) }),
        ]
        print("on this machine: \(KernelBenchmark.backends)")
        forEachKernelPath { path in
            for dtype in WeightDType.allCases {
                // (37, 33, 600): three column blocks of the packed panels (256 + 256 + 88);
                // (530, 35, 40): two AVX-512 row blocks (512 + 18); (200, 41, 523): two AVX2 row
                // blocks (168 + 32, the last 6-row tile partial), a partial 16-row weight panel and
                // a column block that is not a multiple of 8; (7, 4100, 9): two AVX2 weight slices
                // (4080 + 20).
                for (rows, out, inputs) in [(2, 3, 5), (9, 65, 17), (13, 130, 33), (70, 129, 130), (37, 33, 600), (530, 35, 40),
                                            (200, 41, 523), (7, 4100, 9)] {
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

    /// The blocked GEMM sums each output in an order that depends on neither the batch nor the
    /// slice of weight rows: a row multiplied alone, or inside another batch, gives the same bits.
    func testBlockedProductOfARowDoesNotDependOnTheBatch() {
        var g = TestValues(state: 29)
        let (rows, out, inputs) = (13, 41, 523)
        let x = g.values(rows * inputs)
        let (bits, _) = halfWidthWeights(g.values(out * inputs), dtype: .bf16)
        let weight = WeightMatrix(rows: out, columns: inputs, dtype: .bf16, bits: bits)
        func product(_ first: Int, _ count: Int) -> [Float] {
            var y = [Float](repeating: .nan, count: count * out)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { DTypeKernels.blockedProduct(xp.baseAddress! + first * inputs, rows: count, weight: weight, into: $0.baseAddress!) }
            }
            return y
        }
        forEachKernelPath { path in
            let all = product(0, rows)
            XCTAssertEqual(product(5, 1), Array(all[5 * out ..< 6 * out]), "\(path): row 5 alone")
            XCTAssertEqual(product(4, 7), Array(all[4 * out ..< 11 * out]), "\(path): rows 4..<11")
        }
    }

    /// The direct C kernel for every row count 1…9 and a row sub-range, so that tiles and partial
    /// tiles are covered whatever the Linear's dispatch threshold is; 77 inputs reach every block
    /// of the one-row kernel (32, 8 and single columns).
    func testDirectKernelOnRowSubrangesAndEveryTileRemainder() {
        var g = TestValues(state: 21)
        let out = 13
        for inputs in [37, 77] {
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
    }

    /// Widening and row sums (embeddings) are exact on every path, NaN/inf/subnormals included.
    func testWidenAndAddRowAreExactOnEveryPath() {
        var g = TestValues(state: 5)
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
        var g = TestValues(state: 31)
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
        var g = TestValues(state: 59)
        forEachKernelPath { path in
            for precision in Precision.allCases {
                // [300, 200, 170]: decoding's chunks (256 rows at 64 inputs) span two weights.
                // f16 weights under bf16 precision: rounded x, then the direct kernels even where bf16 dots run.
                for dtype in [WeightDType.bf16, .f16] {
                    for (rows, outputs) in [(1, [96, 32, 70]), (15, [96, 32, 70]), (40, [96, 32, 70]), (1, [300, 200, 170]), (8, [300, 200, 170])] {
                        let inputs = 64
                        let layers = outputs.map { out in
                            Linear(weight: WeightMatrix(rows: out, columns: inputs, dtype: dtype,
                                                        bits: halfWidthWeights(g.values(out * inputs), dtype: dtype).bits),
                                   precision: precision)
                        }
                        let x = g.values(rows * inputs)
                        let together = Linear.apply(layers, to: x, rows: rows)
                        XCTAssertEqual(together.count, 3)
                        for (layer, output) in zip(layers, together) {
                            XCTAssertEqual(output, layer(x, rows: rows), "\(path) \(precision) \(dtype) \(rows) rows, \(layer.outputSize) outputs")
                        }
                    }
                }
            }
        }
    }

    /// Attention's products (`blt_activation_product`, the C tiles) on every path against a naive
    /// loop: both layouts of B, strides wider than the rows, alpha, every tile remainder of rows
    /// and columns (8 × 32 on AVX-512, 4 × 16 on AVX2), k of 1.
    func testActivationProductsMatchNaiveLoopsOnEveryPath() {
        var g = TestValues(state: 41)
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
            XCTAssertEqual(choice.weights, backend)
            XCTAssertEqual(choice.activations, backend)
            XCTAssertTrue(choice.reason.hasPrefix("forced by BLT_GEMM; OpenBLAS"), choice.reason)
        }
        XCTAssertEqual(BackendRequest("OpenBLAS"), .unknown("OpenBLAS"))
        XCTAssertThrowsError(try KernelPath.check(cpu: .unset, gemm: BackendRequest("nonsense"))) {
            XCTAssertEqual($0 as? KernelConfigurationError, .unknownBackend("nonsense"))
            XCTAssertEqual("\($0)", "BLT_GEMM=\"nonsense\" names no many-row backend; this CPU runs: openblas, blocked (unset BLT_GEMM to let the engine choose)")
        }
        // An unknown BLT_GEMM leaves the choice to the engine (and is refused); BLT_CPU is reported first.
        XCTAssertEqual(ManyRowBackend.choose(gemm: .unknown("nonsense"), cpu: .unset),
                       ManyRowBackend.choose(gemm: .unset, cpu: .unset))
        XCTAssertThrowsError(try KernelPath.check(cpu: .unknown("x"), gemm: .unknown("y"))) {
            XCTAssertEqual($0 as? KernelConfigurationError, .unknownPath("x", supported: supported))
        }

        // The process's own settings, as the C target recorded BLT_CPU: the tests run with good ones.
        XCTAssertEqual(PathRequest.environment, PathRequest(ProcessInfo.processInfo.environment["BLT_CPU"]))
        XCTAssertEqual(BackendRequest.environment, BackendRequest(ProcessInfo.processInfo.environment["BLT_GEMM"]))
        XCTAssertNoThrow(try KernelPath.checkEnvironment())
    }

    /// Who multiplies many rows, per CPU kind: the blocked GEMM takes weight products wherever the
    /// avx2 path runs, OpenBLAS keeps activation products wherever it has a kernel.
    func testManyRowBackendsPerCPU() {
        #if arch(x86_64)
        let avx2: [KernelPath] = [.generic, .avx2], avx512: [KernelPath] = [.generic, .avx2, .avx512, .avx512bf16]
        func backends(_ cpu: PathRequest, _ supported: [KernelPath], _ core: String,
                      gemm: BackendRequest = .unset) -> [ManyRowBackend] {
            let choice = ManyRowBackend.choose(gemm: gemm, cpu: cpu, supported: supported, core: core)
            return [choice.weights, choice.activations]
        }
        XCTAssertEqual(backends(.unset, avx2, "Zen"), [.blocked, .openBLAS], "Zen 3: AVX2 only")
        XCTAssertEqual(backends(.unset, avx2, "Haswell"), [.blocked, .openBLAS])
        XCTAssertEqual(backends(.honoured(.avx2), avx512, "SkylakeX"), [.blocked, .openBLAS], "the avx2 path forced")
        XCTAssertEqual(backends(.unset, avx512, "SkylakeX"), [.openBLAS, .openBLAS], "an AVX-512 CPU OpenBLAS knows")
        XCTAssertEqual(backends(.unsupported(.avx512), avx2, "Zen"), [.blocked, .openBLAS], "the best path, avx2, runs")
        XCTAssertEqual(backends(.honoured(.avx512), avx512, "SkylakeX"), [.openBLAS, .openBLAS])
        XCTAssertEqual(backends(.unset, avx512 + [.amx], "Prescott"), [.blocked, .blocked], "Emerald Rapids")
        XCTAssertEqual(backends(.unset, avx2, "Prescott"), [.blocked, .blocked])
        XCTAssertEqual(backends(.honoured(.generic), avx2, "Zen"), [.openBLAS, .openBLAS], "portable code asked for")
        XCTAssertEqual(backends(.unset, [.generic], "Prescott"), [.openBLAS, .openBLAS], "no AVX2")
        XCTAssertEqual(backends(.unset, avx2, "Zen", gemm: .honoured(.openBLAS)), [.openBLAS, .openBLAS])
        XCTAssertEqual(backends(.unset, avx512, "SkylakeX", gemm: .honoured(.blocked)), [.blocked, .blocked])
        XCTAssertEqual(ManyRowBackend.choose(gemm: .unset, cpu: .unset, supported: avx2, core: "Zen").summary,
                       "blocked, attention: openblas")
        XCTAssertEqual(ManyRowBackend.choose(gemm: .unset, cpu: .unset, supported: avx512, core: "SkylakeX").summary, "openblas")
        XCTAssertTrue(ManyRowBackend.choose(gemm: .unset, cpu: .unset, supported: avx2, core: "Prescott").reason
            .hasSuffix("core Prescott has no kernel for this CPU"))
        #endif
    }
}

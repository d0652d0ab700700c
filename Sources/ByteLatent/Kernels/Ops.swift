import CKernels
import Foundation

/// out = weight ⊙ x · rsqrt(mean(x²) + ε), row by row (RMSNorm, computed in fp32 like the reference).
/// Rows are split across cores: between GEMMs this would otherwise leave a core idle.
func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, dimension: Int, weight: UnsafePointer<Float>, epsilon: Float,
             into out: UnsafeMutablePointer<Float>) {
    parallelChunks(rows, minimumChunk: max(1, 16_384 / max(dimension, 1))) { rowRange in
        for r in rowRange { rmsNormRow(x + r * dimension, dimension: dimension, weight: weight, epsilon: epsilon, into: out + r * dimension) }
    }
}

/// The sum of squares runs in 16 lanes (as torch's vectorised mean does, in its own order): a
/// single running sum is a chain of dependent adds, 2–3 % of a bf16 eval.
@inline(__always)
private func rmsNormRow(_ xr: UnsafePointer<Float>, dimension: Int, weight: UnsafePointer<Float>, epsilon: Float,
                        into orow: UnsafeMutablePointer<Float>) {
    var lanes = SIMD16<Float>()
    var i = 0
    while i + 16 <= dimension {
        let v = UnsafeRawPointer(xr + i).loadUnaligned(as: SIMD16<Float>.self)
        lanes += v * v
        i += 16
    }
    var sum = lanes.sum()
    while i < dimension { sum += xr[i] * xr[i]; i += 1 }
    let scale = 1 / (sum / Float(dimension) + epsilon).squareRoot()
    for i in 0..<dimension { orow[i] = weight[i] * (xr[i] * scale) }
}

func rmsNorm(_ x: [Float], rows: Int, weight: [Float], epsilon: Float) -> [Float] {
    guard !x.isEmpty else { return [] }
    // Every element is written, so skip zero-filling the output.
    return [Float](unsafeUninitializedCapacity: x.count) { out, initialized in
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                rmsNorm(xp.baseAddress!, rows: rows, dimension: wp.count, weight: wp.baseAddress!, epsilon: epsilon, into: out.baseAddress!)
                let normed = min(x.count, rows * wp.count)
                (out.baseAddress! + normed).initialize(repeating: 0, count: x.count - normed)
            }
        }
        initialized = x.count
    }
}

/// gate ← silu(gate) ⊙ up (SwiGLU), in place, split across cores.
func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
    parallelChunks(count, minimumChunk: 32_768) { range in
        blt_silu_multiply(gate + range.lowerBound, up + range.lowerBound, range.count)
    }
}

/// x ← x + y, 16 lanes at a time (the compiler does not vectorise the loop: x and y might alias)
func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    parallelChunks(count, minimumChunk: 65_536) { range in
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let sum = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) + UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(x + i).storeBytes(of: sum, as: SIMD16<Float>.self)
            i += 16
        }
        while i < range.upperBound { x[i] += y[i]; i += 1 }
    }
}

/// x ← x + y over whole buffers (the residual connections).
func addInPlace(_ x: inout [Float], _ y: [Float]) {
    x.withUnsafeMutableBufferPointer { xp in
        y.withUnsafeBufferPointer { add(xp.baseAddress!, $0.baseAddress!, count: min(xp.count, $0.count)) }
    }
}

/// Rows `ids` of an embedding matrix (the embedding lookup) into `dst` ([ids.count, columns]).
func gatherRows<IDs: Collection>(_ matrix: WeightMatrix, _ ids: IDs, into dst: UnsafeMutablePointer<Float>) where IDs.Element == Int32 {
    let d = matrix.columns
    for (t, id) in ids.enumerated() { matrix.copyRow(Int(id), to: dst + t * d) }
}

/// Rotary position embedding with interleaved pairs (x[2i], x[2i+1]), as BLT (and transformers'
/// BLT port) do; not the half-split rotation of Llama.
public struct RotaryEmbedding: Sendable {
    public let headDimension: Int
    let inverseFrequencies: [Float]

    public init(theta: Double, headDimension: Int) {
        self.headDimension = headDimension
        // inv_freq = 1 / θ^(2i/d), evaluated in fp32 like the reference.
        inverseFrequencies = (0..<headDimension / 2).map { i in
            let exponent = Float(2 * i) / Float(headDimension)
            return 1 / Float(pow(Double(Float(theta)), Double(exponent)))
        }
    }

    /// cos/sin for a run of positions.
    public func table<Positions: Collection<Int>>(positions: Positions) -> RotaryTable {
        let half = headDimension / 2
        var cosines = [Float](repeating: 0, count: positions.count * half)
        var sines = cosines
        cosines.withUnsafeMutableBufferPointer { c in
            sines.withUnsafeMutableBufferPointer { s in
                fill(positions, cosines: c.baseAddress!, sines: s.baseAddress!)
            }
        }
        return RotaryTable(headDimension: headDimension, cosines: cosines, sines: sines)
    }

    /// cos/sin for `count` rows at `position(row)`, in the workspace's RoPE slots.
    func table(rows count: Int, in workspace: Workspace, position: (Int) -> Int) -> RotaryView {
        let half = headDimension / 2
        let cosines = workspace.floats(.ropeCosines, count * half), sines = workspace.floats(.ropeSines, count * half)
        fill((0..<count).lazy.map(position), cosines: cosines, sines: sines)
        return RotaryView(headDimension: headDimension, cosines: cosines, sines: sines)
    }

    private func fill<Positions: Collection<Int>>(_ positions: Positions, cosines: UnsafeMutablePointer<Float>,
                                                   sines: UnsafeMutablePointer<Float>) {
        let half = headDimension / 2
        for (row, position) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(position) * inverseFrequencies[i]
                cosines[row * half + i] = Float(cos(Double(angle)))
                sines[row * half + i] = Float(sin(Double(angle)))
            }
        }
    }
}

/// cos/sin of one run of positions, [position][pair].
public struct RotaryTable: Sendable {
    let headDimension: Int
    let cosines: [Float]
    let sines: [Float]

    /// Rotates every head of `rows` rows of `x` ([rows, heads·headDimension]); row r is at the
    /// table's r-th position.
    func apply(_ x: inout [Float], rows: Int, heads: Int) {
        x.withUnsafeMutableBufferPointer { buffer in
            cosines.withUnsafeBufferPointer { cosines in
                sines.withUnsafeBufferPointer { sines in
                    RotaryView(headDimension: headDimension, cosines: cosines.baseAddress!, sines: sines.baseAddress!)
                        .apply(buffer.baseAddress!, rows: rows, heads: heads)
                }
            }
        }
    }
}

/// cos/sin of one run of positions in a workspace (a stack's pass), [position][pair].
struct RotaryView {
    let headDimension: Int
    let cosines: UnsafePointer<Float>
    let sines: UnsafePointer<Float>

    /// Rotates every head of `rows` rows of `x` ([rows, heads·headDimension]); row r is at the
    /// table's r-th position. Rows are split across cores (each row's rotation is independent).
    func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int) {
        let half = headDimension / 2, width = heads * headDimension
        let c = cosines, s = sines, headDimension = headDimension
        parallelChunks(rows, minimumChunk: max(1, 32_768 / max(width, 1))) { rowRange in
            for r in rowRange {
                for h in 0..<heads { Self.rotate(x + r * width + h * headDimension, c + r * half, s + r * half, pairs: half) }
            }
        }
    }

    /// One head's interleaved pairs (v[2i], v[2i+1]) rotated by (c[i], s[i]); 8 pairs at a time as
    /// the evens and odds of 16 lanes, the same formula.
    @inline(__always)
    private static func rotate(_ v: UnsafeMutablePointer<Float>, _ c: UnsafePointer<Float>, _ s: UnsafePointer<Float>, pairs: Int) {
        var i = 0
        while i + 8 <= pairs {
            let raw = UnsafeMutableRawPointer(v + 2 * i)
            var lanes = raw.loadUnaligned(as: SIMD16<Float>.self)
            let cs = UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float>.self)
            let sn = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
            let a = lanes.evenHalf, b = lanes.oddHalf
            lanes.evenHalf = a * cs - b * sn
            lanes.oddHalf = b * cs + a * sn
            raw.storeBytes(of: lanes, as: SIMD16<Float>.self)
            i += 8
        }
        while i < pairs {
            let a = v[2 * i], b = v[2 * i + 1]
            v[2 * i] = a * c[i] - b * s[i]
            v[2 * i + 1] = b * c[i] + a * s[i]
            i += 1
        }
    }
}

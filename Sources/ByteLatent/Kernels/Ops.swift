import Foundation

/// out = weight ⊙ x · rsqrt(mean(x²) + ε), row by row (RMSNorm, computed in fp32 like the reference).
func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, dimension: Int, weight: UnsafePointer<Float>, epsilon: Float,
             into out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * dimension, orow = out + r * dimension
        var sum: Float = 0
        for i in 0..<dimension { sum += xr[i] * xr[i] }
        let scale = 1 / (sum / Float(dimension) + epsilon).squareRoot()
        for i in 0..<dimension { orow[i] = weight[i] * (xr[i] * scale) }
    }
}

func rmsNorm(_ x: [Float], rows: Int, weight: FloatMatrix, epsilon: Float) -> [Float] {
    var out = [Float](repeating: 0, count: x.count)
    x.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBufferPointer {
            rmsNorm(xp.baseAddress!, rows: rows, dimension: weight.columns, weight: weight.pointer, epsilon: epsilon, into: $0.baseAddress!)
        }
    }
    return out
}

/// gate ← silu(gate) ⊙ up (SwiGLU), in place.
func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
    }
}

/// x ← x + y
func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { x[i] += y[i] }
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

    /// cos/sin tables for positions `positions`, laid out [position][pair].
    public func table(positions: Range<Int>) -> (cos: [Float], sin: [Float]) {
        let half = headDimension / 2
        var cosines = [Float](repeating: 0, count: positions.count * half)
        var sines = cosines
        for (row, position) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(position) * inverseFrequencies[i]
                cosines[row * half + i] = Float(cos(Double(angle)))
                sines[row * half + i] = Float(sin(Double(angle)))
            }
        }
        return (cosines, sines)
    }

    /// Rotates every head of `rows` rows of `x` ([rows, heads·headDimension]); row r uses table row r.
    func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = headDimension / 2, width = heads * headDimension
        for r in 0..<rows {
            let c = cos + r * half, s = sin + r * half
            for h in 0..<heads {
                let v = x + r * width + h * headDimension
                for i in 0..<half {
                    let a = v[2 * i], b = v[2 * i + 1]
                    v[2 * i] = a * c[i] - b * s[i]
                    v[2 * i + 1] = b * c[i] + a * s[i]
                }
            }
        }
    }
}

import COpenBLAS

/// y = x · Wᵀ with W stored [out, in] as in PyTorch. The one linear layer of all four transformers.
public struct Linear: @unchecked Sendable {
    public let weight: FloatMatrix
    public var inputSize: Int { weight.columns }
    public var outputSize: Int { weight.rows }

    public init(weight: FloatMatrix) { self.weight = weight }

    /// `x` is [rows, inputSize], `y` is [rows, outputSize]; y is overwritten.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        guard rows > 0, outputSize > 0 else { return }
        if rows == 1, let bf16 = weight.bf16 {
            // Generation is bound by memory bandwidth: read the bf16 weights, half the bytes.
            bf16MatrixVector(bf16, rows: outputSize, columns: inputSize, x: x, y: y)
        } else if rows == 1 {
            // sgemm with M = 1 is 3–8× slower than sgemv on OpenBLAS 0.3.21.
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outputSize), Int32(inputSize),
                        1, weight.pointer, Int32(inputSize), x, 1, 0, y, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputSize), Int32(inputSize),
                        1, x, Int32(inputSize), weight.pointer, Int32(inputSize), 0, y, Int32(outputSize))
        }
    }

    public func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        // Every element is written by the product (beta = 0), so skip zero-filling the output.
        let count = rows * outputSize
        guard count > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { y, initialized in
            x.withUnsafeBufferPointer { apply($0.baseAddress!, rows: rows, into: y.baseAddress!) }
            initialized = count
        }
    }
}

/// y = W·x for bf16 W ([rows, columns], row-major) and Float x, accumulated in Float. bf16 → f32
/// is exact (the bits shifted left by 16). Each 32-bit load holds two weights, w[2j] in its low
/// half and w[2j+1] in its high half, so x is split into its even and odd entries once and every
/// row is a pair of plain integer-mask/shift + FMA streams. Rows are split across cores.
func bf16MatrixVector(_ w: UnsafePointer<UInt16>, rows: Int, columns: Int, x: UnsafePointer<Float>,
                      y: UnsafeMutablePointer<Float>) {
    let pairs = columns / 2
    var even = [Float](repeating: 0, count: pairs), odd = even
    for j in 0..<pairs { even[j] = x[2 * j]; odd[j] = x[2 * j + 1] }
    even.withUnsafeBufferPointer { evenBuffer in
        odd.withUnsafeBufferPointer { oddBuffer in
            let xe = UnsafeRawPointer(evenBuffer.baseAddress!), xo = UnsafeRawPointer(oddBuffer.baseAddress!)
            parallelChunks(rows, minimumChunk: max(16, 65_536 / max(columns, 1))) { range in
                for r in range {
                    let row = UnsafeRawPointer(w + r * columns)
                    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
                    var j = 0
                    while j + 16 <= pairs {
                        let packed = row.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<UInt32>.self)
                        let low = unsafeBitCast(packed &<< 16, to: SIMD16<Float>.self)
                        let high = unsafeBitCast(packed & 0xFFFF_0000, to: SIMD16<Float>.self)
                        a0.addProduct(low, xe.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self))
                        a1.addProduct(high, xo.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self))
                        j += 16
                    }
                    var sum = (a0 + a1).sum()
                    for i in 2 * j ..< columns { sum += Float(bitPattern: UInt32(w[r * columns + i]) << 16) * x[i] }
                    y[r] = sum
                }
            }
        }
    }
}

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
        if rows == 1 {
            // sgemm with M = 1 is 3–8× slower than sgemv on OpenBLAS 0.3.21.
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outputSize), Int32(inputSize),
                        1, weight.pointer, Int32(inputSize), x, 1, 0, y, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputSize), Int32(inputSize),
                        1, x, Int32(inputSize), weight.pointer, Int32(inputSize), 0, y, Int32(outputSize))
        }
    }

    public func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outputSize)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!) }
        }
        return y
    }
}

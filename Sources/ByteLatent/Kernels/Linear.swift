/// y = x · Wᵀ with W stored [out, in] as in PyTorch, in the checkpoint's dtype. The one linear
/// layer of all four transformers; the product runs through the kernel seam (`MatrixKernels`).
public struct Linear: @unchecked Sendable {
    public let weight: WeightMatrix
    public let precision: Precision
    public var inputSize: Int { weight.columns }
    public var outputSize: Int { weight.rows }

    public init(weight: WeightMatrix, precision: Precision = .float32) {
        self.weight = weight
        self.precision = precision
    }

    /// `x` is [rows, inputSize], `y` is [rows, outputSize]; y is overwritten.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        MatrixKernels.multiply(x, rows: rows, by: weight, precision: precision, into: y)
    }

    public func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        // Every element is written by the product, so skip zero-filling the output.
        let count = rows * outputSize
        guard count > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { y, initialized in
            x.withUnsafeBufferPointer { apply($0.baseAddress!, rows: rows, into: y.baseAddress!) }
            initialized = count
        }
    }
}

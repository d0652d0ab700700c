/// y = x · Wᵀ with W stored [out, in] as in PyTorch, in the checkpoint's dtype. The one linear
/// layer of all four transformers; the product runs through the kernel seam (`MatrixKernels`).
public struct Linear: Sendable {
    public let weight: WeightMatrix
    public let precision: Precision
    public var inputSize: Int { weight.columns }
    public var outputSize: Int { weight.rows }

    public init(weight: WeightMatrix, precision: Precision = .float32) {
        self.weight = weight
        self.precision = precision
    }

    /// `x` is [rows, inputSize], `y` is [rows, outputSize]; y is overwritten. `scratch`: the
    /// calling context's kernel scratch.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        apply(x, rows: rows, into: y, scratch: .shared)
    }

    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, scratch: ProductScratch) {
        MatrixKernels.multiply(x, rows: rows, by: weight, precision: precision, into: y, scratch: scratch)
    }

    /// x through several layers of the same input size and precision (q, k and v; gate and up) in
    /// one call of the kernel seam, which then packs x once for all of them on AMX tiles.
    static func apply(_ layers: [Linear], to x: UnsafePointer<Float>, rows: Int, into ys: [UnsafeMutablePointer<Float>],
                      scratch: ProductScratch) {
        guard let first = layers.first, rows > 0 else { return }
        precondition(layers.allSatisfy { $0.inputSize == first.inputSize && $0.precision == first.precision },
                     "layers applied together share their input size and precision")
        let nonEmpty = layers.indices.filter { layers[$0].outputSize > 0 }
        MatrixKernels.multiply(x, rows: rows, by: nonEmpty.map { layers[$0].weight }, precision: first.precision,
                               into: nonEmpty.map { ys[$0] }, scratch: scratch)
    }

    /// The array form of `apply(_:to:rows:into:scratch:)` (tests, small tools).
    public static func apply(_ layers: [Linear], to x: [Float], rows: Int) -> [[Float]] {
        guard rows > 0, layers.allSatisfy({ $0.outputSize > 0 }) else { return layers.map { $0(x, rows: rows) } }
        var outputs = [[Float]](repeating: [], count: layers.count)
        // Each output is created uninitialised around the next; the innermost runs the products.
        func fill(_ i: Int, _ pointers: [UnsafeMutablePointer<Float>]) {
            guard i < layers.count else {
                x.withUnsafeBufferPointer { apply(layers, to: $0.baseAddress!, rows: rows, into: pointers, scratch: .shared) }
                return
            }
            let count = rows * layers[i].outputSize
            outputs[i] = [Float](unsafeUninitializedCapacity: count) { y, initialized in
                fill(i + 1, pointers + [y.baseAddress!])
                initialized = count
            }
        }
        fill(0, [])
        return outputs
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

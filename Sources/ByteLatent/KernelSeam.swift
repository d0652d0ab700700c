/// The kernel seam's individual ways of multiplying by a weight matrix, each forced, for the
/// package's benchmark target (`blt bench-kernels`, `KernelBenchmark` in ByteLatentBenchmarks). The
/// engine itself picks among them in `MatrixKernels`; nothing outside this package sees them.
package enum KernelSeam {
    /// y[rows, N] = x[rows, K] · Wᵀ by the C kernels on the stored values.
    package static func directProduct(_ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, into y: UnsafeMutablePointer<Float>) {
        DTypeKernels.directProduct(x, rows: rows, weight: weight, into: y)
    }

    /// The same product with panels widened to fp32 and OpenBLAS's sgemm.
    package static func widenedProduct(_ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, into y: UnsafeMutablePointer<Float>) {
        DTypeKernels.widenedProduct(x, rows: rows, weight: weight, into: y)
    }

    /// The same product by the C target's blocked GEMM.
    package static func blockedProduct(_ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, into y: UnsafeMutablePointer<Float>) {
        DTypeKernels.blockedProduct(x, rows: rows, weight: weight, into: y)
    }

    /// The product as the engine runs it at `precision`.
    package static func product(_ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, precision: Precision,
                                into y: UnsafeMutablePointer<Float>) {
        MatrixKernels.multiply(x, rows: rows, by: weight, precision: precision, into: y)
    }

    /// y[rows, columns] = x[rows, k] · wᵀ for fp32 w [columns, k], split across the cores and run
    /// by one-thread OpenBLAS, as the engine runs OpenBLAS's products.
    package static func float32Product(_ x: UnsafePointer<Float>, rows: Int, k: Int, by w: UnsafePointer<Float>, columns: Int,
                                       into y: UnsafeMutablePointer<Float>) {
        OpenBLASThreads.holdAtOne()
        DTypeKernels.splitProduct(x, rows: rows, k: k, by: w, columns: columns, into: y, ldy: columns)
    }
}

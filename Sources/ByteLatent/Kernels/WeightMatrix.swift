import CKernels

/// How a weight matrix is stored: the dtype of the checkpoint, kept as is.
public enum WeightDType: String, Sendable, CaseIterable {
    case f32, bf16, f16

    var kernelDType: Int32 {
        switch self {
        case .f32: return Int32(BLT_DTYPE_F32.rawValue)
        case .bf16: return Int32(BLT_DTYPE_BF16.rawValue)
        case .f16: return Int32(BLT_DTYPE_F16.rawValue)
        }
    }

    public var byteSize: Int { self == .f32 ? 4 : 2 }
}

/// A row-major weight matrix [rows, columns] in its stored dtype, normally a view into the mapped
/// checkpoint: nothing is widened to fp32 at load. Products and row reads go through the kernel
/// seam (`MatrixKernels`), which widens on the fly or in a reused scratch panel.
///
/// `@unchecked Sendable`: every field is a `let`, but `base` is a raw pointer into the mapped
/// checkpoint (kept alive by `keepAlive`) or into `owned`, which nothing writes after `init`;
/// the compiler cannot see that raw memory is immutable.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let dtype: WeightDType
    /// rows · columns elements of `dtype`, aligned to the element size.
    public let base: UnsafeRawPointer
    private let owned: UnsafeMutableRawPointer?
    private let keepAlive: AnyObject?

    public var count: Int { rows * columns }
    public var byteCount: Int { count * dtype.byteSize }

    /// A view of memory owned by `owner` (a mapped checkpoint). `base` must be aligned to the
    /// element size; `copyingIfUnaligned` makes an aligned copy otherwise.
    init(rows: Int, columns: Int, dtype: WeightDType, borrowing base: UnsafeRawPointer, owner: AnyObject?) {
        self.rows = rows; self.columns = columns; self.dtype = dtype
        self.base = base; self.owned = nil; self.keepAlive = owner
    }

    /// An aligned copy of `count` elements at `source` (any alignment).
    init(rows: Int, columns: Int, dtype: WeightDType, copying source: UnsafeRawPointer) {
        let bytes = max(rows * columns * dtype.byteSize, 1)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        buffer.copyMemory(from: source, byteCount: rows * columns * dtype.byteSize)
        self.rows = rows; self.columns = columns; self.dtype = dtype
        self.base = UnsafeRawPointer(buffer); self.owned = buffer; self.keepAlive = nil
    }

    /// Stored values of a matrix built in memory (tests, small tools): Float values as f32, or
    /// raw bf16 / f16 bit patterns.
    public convenience init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "WeightMatrix: \(values.count) values for \(rows)×\(columns)")
        self.init(rows: rows, columns: columns, dtype: .f32, copying: values)
    }

    public convenience init(rows: Int, columns: Int, dtype: WeightDType, bits: [UInt16]) {
        precondition(dtype != .f32 && bits.count == rows * columns, "WeightMatrix: \(bits.count) \(dtype) values for \(rows)×\(columns)")
        self.init(rows: rows, columns: columns, dtype: dtype, copying: bits)
    }

    deinit { owned?.deallocate() }

    /// Start of row `index`.
    @inline(__always) func row(_ index: Int) -> UnsafeRawPointer { base + index * columns * dtype.byteSize }

    /// dst[0..<columns] = row `index` as Float.
    func copyRow(_ index: Int, to dst: UnsafeMutablePointer<Float>) {
        blt_widen(dtype.kernelDType, row(index), dst, columns)
    }

    /// dst[0..<columns] += row `index` as Float (embedding sums).
    @inline(__always) func addRow(_ index: Int, to dst: UnsafeMutablePointer<Float>) {
        blt_add_row(dtype.kernelDType, row(index), dst, columns)
    }

    /// Every value as Float (small matrices: norms, tests).
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { blt_widen(dtype.kernelDType, base, buffer.baseAddress!, count) }
            initialized = count
        }
    }
}

/// A row-major Float matrix (a vector is one row). Weights are either mapped straight from an
/// aligned F32 checkpoint (zero copy) or converted once at load from BF16/F16, because Debian's
/// OpenBLAS 0.3.21 has no bf16 GEMM. A matrix converted from BF16 also keeps its mapped bf16
/// rows: single-row products (generation) read those, half the bytes of the fp32 copy.
public final class FloatMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let pointer: UnsafePointer<Float>
    /// The same values as mapped bf16, when the checkpoint stores them so (2-byte aligned).
    public private(set) var bf16: UnsafePointer<UInt16>?
    private let owned: UnsafeMutablePointer<Float>?
    private var keepAlive: AnyObject?

    /// Records the mapped bf16 source of these values (kept alive by `owner`).
    func attachBF16(_ source: UnsafePointer<UInt16>, owner: AnyObject) {
        bf16 = source
        keepAlive = owner
    }

    public var count: Int { rows * columns }

    /// Wraps memory owned by someone else (a mapped checkpoint kept alive by `owner`).
    public init(rows: Int, columns: Int, borrowing pointer: UnsafePointer<Float>, owner: AnyObject?) {
        self.rows = rows; self.columns = columns; self.pointer = pointer
        self.owned = nil; self.keepAlive = owner
    }

    /// Allocates and fills a new matrix.
    public init(rows: Int, columns: Int, fill: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * columns, 1))
        do { try fill(buffer) } catch { buffer.deallocate(); throw error }
        self.rows = rows; self.columns = columns
        self.pointer = UnsafePointer(buffer); self.owned = buffer; self.keepAlive = nil
    }

    public convenience init(rows: Int, columns: Int, values: [Float]) {
        self.init(rows: rows, columns: columns) { dst in
            values.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: rows * columns) }
        }
    }

    deinit { owned?.deallocate() }

    public func row(_ index: Int) -> UnsafePointer<Float> { pointer + index * columns }
}

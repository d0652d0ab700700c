/// Zero-copy view of one tensor inside a memory-mapped file. Holds a strong reference to the
/// mapping, so the bytes stay valid as long as the `Tensor` (or a copy of it) exists, even if
/// the `SafetensorsFile` it came from is released.
public struct Tensor: @unchecked Sendable {
    public let info: TensorInfo
    /// Exactly `info.byteCount` bytes inside the mapping. Read-only.
    public let bytes: UnsafeRawBufferPointer
    /// Path of the file the tensor lives in (for error messages).
    public let path: String
    /// `shape[0]`, or 1 for a scalar.
    public let rowCount: Int
    /// Product of `shape[1...]`: 1 for 1-D tensors and scalars.
    public let rowLength: Int
    let owner: AnyObject?

    init(info: TensorInfo, bytes: UnsafeRawBufferPointer, owner: AnyObject?, path: String) {
        self.info = info
        self.bytes = bytes
        self.owner = owner
        self.path = path
        self.rowCount = info.shape.first ?? 1
        self.rowLength = info.shape.dropFirst().reduce(1, *)
    }

    /// A view of caller-owned memory (e.g. for tests or tensors built in memory). `owner` is kept
    /// alive as long as the `Tensor`; the caller guarantees `bytes` stays valid that long.
    /// Throws `.invalidShape` / `.byteCountMismatch` if `bytes` does not hold exactly the tensor.
    public init(info: TensorInfo, bytes: UnsafeRawBufferPointer, owner: AnyObject?, label: String = "<memory>") throws {
        guard let c = checkedByteCount(shape: info.shape, byteSize: info.dtype.byteSize) else {
            throw SafetensorsError.invalidShape(path: label, tensor: info.name, reason: "shape \(info.shape) has a negative dimension or overflows")
        }
        guard c.bytes == bytes.count, c.bytes == info.dataOffsets.count else {
            throw SafetensorsError.byteCountMismatch(path: label, tensor: info.name, expected: c.bytes, actual: bytes.count)
        }
        self.init(info: info, bytes: bytes, owner: owner, path: label)
    }

    public var name: String { info.name }
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }
    public var elementCount: Int { info.elementCount }
    public var byteCount: Int { info.byteCount }

    /// Non-nil iff the dtype is F32 and the data is 4-byte aligned: a pointer straight into
    /// the mapping (true zero copy). Valid while this `Tensor` (or its file) is alive.
    public var f32Pointer: UnsafePointer<Float>? {
        guard info.dtype == .f32, let base = bytes.baseAddress, Int(bitPattern: base) & 3 == 0 else { return nil }
        return base.assumingMemoryBound(to: Float.self)
    }

    private func requireFloat(_ op: String) throws {
        guard info.dtype.isFloatingPoint else {
            throw SafetensorsError.unsupportedDType(path: path, tensor: info.name, dtype: info.dtype, operation: op)
        }
    }

    /// All elements converted to Float (F32 copied, F16/BF16 widened exactly, F64 rounded).
    /// Other dtypes throw `.unsupportedDType`.
    public func floats() throws -> [Float] {
        try requireFloat("floats()")
        let n = info.elementCount
        return [Float](unsafeUninitializedCapacity: n) { buf, count in
            if n > 0 { convertToFloat(dtype: info.dtype, src: bytes.baseAddress!, count: n, dst: buf.baseAddress!) }
            count = n
        }
    }

    /// Converts all `elementCount` elements into `dst`.
    public func copyFloats(into dst: UnsafeMutablePointer<Float>) throws {
        try requireFloat("copyFloats(into:)")
        let n = info.elementCount
        if n > 0 { convertToFloat(dtype: info.dtype, src: bytes.baseAddress!, count: n, dst: dst) }
    }

    /// Converts rows `rows` (of `rowLength` elements each) into `dst`, contiguously.
    public func copyRows(_ rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) throws {
        try requireFloat("copyRows(_:into:)")
        let rc = rowCount
        if rows.lowerBound < 0 || rows.upperBound > rc {
            let bad = rows.lowerBound < 0 ? rows.lowerBound : rows.upperBound - 1
            throw SafetensorsError.rowOutOfRange(path: path, tensor: info.name, row: bad, rowCount: rc)
        }
        let len = rowLength
        let n = rows.count * len
        if n == 0 { return }
        let es = info.dtype.byteSize
        convertToFloat(dtype: info.dtype, src: bytes.baseAddress! + rows.lowerBound * len * es, count: n, dst: dst)
    }

    /// Converts the given rows, in the given order (repeats allowed), into `dst` contiguously.
    /// All indices are checked before anything is written.
    public func gatherRows(_ rows: [Int], into dst: UnsafeMutablePointer<Float>) throws {
        try requireFloat("gatherRows(_:into:)")
        let rc = rowCount
        for r in rows where r < 0 || r >= rc {
            throw SafetensorsError.rowOutOfRange(path: path, tensor: info.name, row: r, rowCount: rc)
        }
        let len = rowLength
        if len == 0 { return }
        let es = info.dtype.byteSize
        let base = bytes.baseAddress!
        for (i, r) in rows.enumerated() {
            convertToFloat(dtype: info.dtype, src: base + r * len * es, count: len, dst: dst + i * len)
        }
    }

    /// Checks once what `addRow` assumes: a floating-point dtype (F32/F16/BF16/F64).
    /// Row bounds are the caller's to keep (`0 <= row < rowCount`).
    public func validateFloatRows() throws {
        try requireFloat("addRow(_:to:)")
    }

    /// Hot path for huge embedding tables: `dst[0..<rowLength] += row` converted to Float.
    /// No allocation, no checks in release builds: call `validateFloatRows()` once first and
    /// keep `0 <= row < rowCount`.
    @inline(__always)
    public func addRow(_ row: Int, to dst: UnsafeMutablePointer<Float>) {
        assert(row >= 0 && row < rowCount && info.dtype.isFloatingPoint, "addRow: row out of range or dtype not float")
        let len = rowLength
        guard len > 0, let base = bytes.baseAddress else { return }
        let src = base + row * len * info.dtype.byteSize
        switch info.dtype {
        case .bf16: addBF16(src, len, dst)
        case .f32: addF32(src, len, dst)
        case .f16: addF16(src, len, dst)
        case .f64: addF64(src, len, dst)
        default: return
        }
    }

    /// Elements of an integer or BOOL tensor widened to Int64 (BOOL: nonzero byte → 1).
    /// Floating-point dtypes throw `.unsupportedDType`.
    public func int64s() throws -> [Int64] {
        guard info.dtype.isInteger else {
            throw SafetensorsError.unsupportedDType(path: path, tensor: info.name, dtype: info.dtype, operation: "int64s()")
        }
        let n = info.elementCount
        guard n > 0, let src = bytes.baseAddress else { return [] }
        var out = [Int64](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { o in
            switch info.dtype {
            case .i64: for i in 0..<n { o[i] = Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .i32: for i in 0..<n { o[i] = Int64(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case .i16: for i in 0..<n { o[i] = Int64(Int16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
            case .i8: for i in 0..<n { o[i] = Int64(src.load(fromByteOffset: i, as: Int8.self)) }
            case .u8: for i in 0..<n { o[i] = Int64(src.load(fromByteOffset: i, as: UInt8.self)) }
            case .bool: for i in 0..<n { o[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
            default: break
            }
        }
        return out
    }
}

import CKernels

/// Keys (after RoPE) and values of one self-attention layer for a run of absolute positions, kept
/// between the steps of incremental decoding (a packed pass keeps none: its keys and values sit in
/// the context's workspace for one layer). Owned by one `IncrementalState`. With a
/// sliding window only the last `window` positions are ever read again, so the storage is trimmed
/// (amortised: when it holds twice the window) and memory stays bounded.
///
/// Under bf16 precision the rows are stored rounded to bf16: every decoding step reads the whole
/// window of every layer, so this halves those reads and the caches' memory.
public final class KVCache {
    public let width: Int
    public let window: Int?
    /// How the rows are stored: `.f32`, or `.bf16` under bf16 precision.
    let dtype: WeightDType
    // Raw storage in 16-bit units (two per fp32 value), so both dtypes share one code path.
    private var keys: [UInt16] = []
    private var values: [UInt16] = []
    /// Absolute position of stored row 0.
    private(set) var firstPosition = 0
    public private(set) var count = 0
    public var endPosition: Int { firstPosition + count }

    public convenience init(width: Int, window: Int?, precision: Precision = .float32) {
        self.init(width: width, window: window, dtype: precision == .bfloat16 ? .bf16 : .f32)
    }

    private init(width: Int, window: Int?, dtype: WeightDType) {
        (self.width, self.window, self.dtype) = (width, window, dtype)
    }

    /// 16-bit units per stored row.
    private var rowUnits: Int { width * dtype.byteSize / 2 }

    func append(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows: Int) {
        store(k, rows: rows, in: &keys)
        store(v, rows: rows, in: &values)
        count += rows
    }

    private func store(_ source: UnsafePointer<Float>, rows: Int, in storage: inout [UInt16]) {
        let old = storage.count, values = rows * width
        storage.append(contentsOf: repeatElement(0, count: rows * rowUnits))
        storage.withUnsafeMutableBufferPointer { buffer in
            let tail = buffer.baseAddress! + old
            if dtype == .bf16 {
                blt_round_to_bf16(source, tail, values)
            } else {
                UnsafeMutableRawPointer(tail).copyMemory(from: source, byteCount: values * MemoryLayout<Float>.size)
            }
        }
    }

    /// The stored rows, for attention (valid inside `body` only).
    func withRows<Result>(_ body: (KeyValueRows) -> Result) -> Result {
        keys.withUnsafeBytes { k in
            values.withUnsafeBytes { v in
                // An empty cache has no storage: attention reads no row of it.
                body(KeyValueRows(keys: k.baseAddress ?? Self.noRows, values: v.baseAddress ?? Self.noRows, dtype: dtype))
            }
        }
    }

    nonisolated(unsafe) private static let noRows = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64))

    /// Bytes the stored rows take.
    var storedBytes: Int { 2 * (keys.count + values.count) }

    /// An independent copy (forked generation states share nothing).
    func copy() -> KVCache {
        let other = KVCache(width: width, window: window, dtype: dtype)
        other.keys = keys
        other.values = values
        other.firstPosition = firstPosition
        other.count = count
        return other
    }

    /// Drops positions ≥ `position` (generation recomputes a position whose decoder patch changed).
    func truncate(to position: Int) {
        let keep = max(0, position - firstPosition)
        guard keep < count else { return }
        keys.removeLast((count - keep) * rowUnits)
        values.removeLast((count - keep) * rowUnits)
        count = keep
    }

    /// Forgets positions no future query can see.
    func trim() {
        guard let window, count > 2 * window + 64 else { return }
        let drop = count - window
        keys.removeFirst(drop * rowUnits)
        values.removeFirst(drop * rowUnits)
        firstPosition += drop
        count -= drop
    }

    /// Storage row of absolute position `position`.
    @inline(__always) func row(of position: Int) -> Int { position - firstPosition }
}

/// Keys (after RoPE) and values of one self-attention layer for a run of absolute positions, kept
/// between the steps of incremental decoding (a packed pass keeps none: its keys and values sit in
/// the context's workspace for one layer). Owned by one `IncrementalState`. With a
/// sliding window only the last `window` positions are ever read again, so the storage is trimmed
/// (amortised: when it holds twice the window) and memory stays bounded.
public final class KVCache {
    public let width: Int
    public let window: Int?
    private(set) var keys: [Float] = []
    private(set) var values: [Float] = []
    /// Absolute position of stored row 0.
    private(set) var firstPosition = 0
    public private(set) var count = 0
    public var endPosition: Int { firstPosition + count }

    public init(width: Int, window: Int?) {
        self.width = width
        self.window = window
    }

    func append(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows: Int) {
        keys.append(contentsOf: UnsafeBufferPointer(start: k, count: rows * width))
        values.append(contentsOf: UnsafeBufferPointer(start: v, count: rows * width))
        count += rows
    }

    /// An independent copy (forked generation states share nothing).
    func copy() -> KVCache {
        let other = KVCache(width: width, window: window)
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
        keys.removeLast((count - keep) * width)
        values.removeLast((count - keep) * width)
        count = keep
    }

    /// Forgets positions no future query can see.
    func trim() {
        guard let window, count > 2 * window + 64 else { return }
        let drop = count - window
        keys.removeFirst(drop * width)
        values.removeFirst(drop * width)
        firstPosition += drop
        count -= drop
    }

    /// Storage row of absolute position `position`.
    @inline(__always) func row(of position: Int) -> Int { position - firstPosition }
}

/// The causal mask as a key range (the form `attention` takes masks in): every self-attention in
/// BLT is causal, optionally limited to a sliding window. `PackedRows.causalRange` adds the
/// sequence boundary of a packed pass.

/// Keys visible to query i in causal attention over positions, limited to the last `window` keys.
@inline(__always)
func causalRange(_ i: Int, window: Int?) -> Range<Int> {
    let lower = window.map { max(0, i - $0 + 1) } ?? 0
    return lower ..< i + 1
}

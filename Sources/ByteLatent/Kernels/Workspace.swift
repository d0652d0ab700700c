/// The activations of one context (llm.c's "allocate once"): a grow-only set of buffers, one per
/// `WorkspaceSlot`. A buffer is sized by the first pass that asks for it and replaced only when a
/// larger pass arrives, so after warm-up a pass of the same shape allocates nothing here. Every
/// layer of a stack takes the same slots (layers run one after another), so the footprint is one
/// layer's activations plus the pass's stage outputs, not one set per layer.
///
/// A slot's contents are valid until the slot is asked for again with a larger count; callers
/// ask for a slot once per use and never hold its pointer across another use of the same slot.
/// Not thread-safe: a workspace belongs to one context, which runs one pass at a time.
final class Workspace {
    /// Allocations of more than this many bytes are counted (`largeAllocations`).
    static let largeAllocationBytes = 64 * 1024

    private var buffers: [WorkspaceSlot: (pointer: UnsafeMutableRawPointer, bytes: Int)] = [:]
    /// Buffers for the kernels' temporary panels (widened weights, bf16-rounded activations,
    /// attention scores), taken concurrently by the workers of one product.
    let scratch: ProductScratch

    init() {
        scratch = ProductScratch()
    }

    deinit {
        for buffer in buffers.values { buffer.pointer.deallocate() }
    }

    /// Allocations above `largeAllocationBytes` made by this workspace and its kernel scratch.
    var largeAllocations: Int { slotAllocations + scratch.largeAllocations }
    private var slotAllocations = 0

    /// Bytes held by every slot and the kernel scratch.
    var reservedBytes: Int { buffers.values.reduce(0) { $0 + $1.bytes } + scratch.reservedBytes }

    /// At least `count` values of `type` in `slot` (uninitialised, 64-byte aligned).
    func buffer<T>(_ slot: WorkspaceSlot, _ count: Int, of type: T.Type = T.self) -> UnsafeMutablePointer<T> {
        let bytes = max(1, count * MemoryLayout<T>.stride)
        if let existing = buffers[slot], existing.bytes >= bytes {
            return existing.pointer.bindMemory(to: T.self, capacity: count)
        }
        buffers[slot]?.pointer.deallocate()
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        if bytes > Self.largeAllocationBytes { slotAllocations += 1 }
        buffers[slot] = (pointer, bytes)
        return pointer.bindMemory(to: T.self, capacity: count)
    }

    /// `count` floats in `slot`.
    func floats(_ slot: WorkspaceSlot, _ count: Int) -> UnsafeMutablePointer<Float> { buffer(slot, count) }

    /// `count` floats in `slot`, a copy of `values`.
    func floats(_ slot: WorkspaceSlot, copying values: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        let pointer = floats(slot, count)
        pointer.update(from: values, count: count)
        return pointer
    }
}

/// What a workspace buffer holds. Stage outputs live for a whole pass; the rest for one layer
/// (or one attention call) and are taken again by the next.
enum WorkspaceSlot: Hashable {
    // Stage outputs of a pass.
    case embeddings, encoderStates, encoderPatches, globalStates, decoderStates, logits
    case entropyHidden, entropyLogits
    // Inside a stack: its RoPE table.
    case ropeCosines, ropeSines
    // Inside a block (and between blocks, a cross-attention).
    case normed, query, key, value, attended, projected, gate, up
    // Cross-attention: keys and values of the bytes (encoder) or of the patches, per decoder layer.
    case crossKeys, crossValues, patchQueries, pooled, patchRows
    case patchKeys(layer: Int), patchValues(layer: Int)
    // Attention's per-query key ranges and flags, and the AMX path's copies of them.
    case keyRanges, uniformRows, tileFrom, tileTo, tileFlags
}

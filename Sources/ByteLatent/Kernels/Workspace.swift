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

    private struct Allocation {
        let pointer: UnsafeMutableRawPointer
        let bytes: Int
    }

    private var buffers: [WorkspaceSlot: Allocation] = [:]
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
        var grown = bytes
        if let existing = buffers[slot] {
            if existing.bytes >= bytes { return existing.pointer.bindMemory(to: T.self, capacity: count) }
            // Twice the old size at least: a slot that grows once tends to grow again (pages never
            // touched cost address space only).
            grown = max(bytes, 2 * existing.bytes)
            existing.pointer.deallocate()
        }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 64)
        if grown > Self.largeAllocationBytes { slotAllocations += 1 }
        buffers[slot] = Allocation(pointer: pointer, bytes: grown)
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
    // Stage outputs of a pass (the entropy model runs in the encoder's, before the main pass).
    case embeddings, encoderStates, encoderPatches, globalStates, decoderStates, logits
    // Inside a stack: its RoPE table.
    case ropeCosines, ropeSines
    // Inside a block (and between blocks, a cross-attention), reused as soon as a value is dead:
    // `normed` also holds the attention output (normed is read by the projections only); the
    // feed-forward's gate and up take the query's and key's slots (read by attention only), and
    // the encoder cross-attention's keys and values sit in `keyOrUp` and `value`.
    case normed, queryOrGate, keyOrUp, value, projected
    // Cross-attention: the encoder's patch queries, the decoder's keys and values of the patches.
    case patchQueries, pooled, patchRows
    case patchKeys(layer: Int), patchValues(layer: Int)
    // Attention: per-query key ranges and flags, the blocks' scores, the AMX path's copies of the
    // ranges, a bf16 cache's rows widened for a block of queries.
    case keyRanges, uniformRows, attentionScores, tileFrom, tileTo, tileFlags, widenedKeys, widenedValues
}

/// The model's state for incremental decoding: everything a forward pass over the ids so far would
/// recompute for the next byte. Every component of BLT is causal, so instead of rerunning the whole
/// prefix each new id costs one entropy-model step, one local-encoder step (KV caches, sliding
/// windows), a global-transformer step when a patch completes (KV cache over patches) and one
/// local-decoder step that reads the cached cross-attention keys of the patches. A prompt runs in
/// one batched pass that fills the caches (`prefill`). Docs/generate.md shows why this equals the
/// full recomputation. A class with an explicit `copy()` (the caches are large). A state runs on
/// the workspace of its `InferenceContext` and keeps its own KV caches: advance the states of one
/// context from one thread at a time (a state on another context may run on another thread).
public final class IncrementalState {
    public let model: BLTModel
    /// Whose workspace the state's steps run on.
    public let context: InferenceContext
    /// Ids processed so far.
    public private(set) var ids: [Int32] = []
    /// Next-byte entropies (nats) of every processed position.
    public private(set) var entropies: [Float] = []
    /// Logits (260) for the id after the last processed one; empty before any id.
    public private(set) var nextLogits: [Float] = []

    private let entropyCaches: [KVCache]
    private let encoderCaches: [KVCache]
    private let globalCaches: [KVCache]
    private let decoderCaches: [KVCache]
    /// Encoder byte states of positions pendingStart ..< ids.count (bytes of patches without a global row yet).
    private var pendingByteStates: [Float] = []
    private var pendingStart = 0
    private var lastByteState: [Float] = []
    private var globalRows = 0           // patches 0..<globalRows have global rows and decoder keys
    private var patchKeys: [Int: [(keys: [Float], values: [Float])]] = [:]
    private var decoderPatchOfLast = -2  // decoder patch used for position ids.count − 1

    /// An empty state (no ids yet) of a context of its own: start it with `prefill`.
    public convenience init(model: BLTModel) {
        self.init(context: InferenceContext(model: model))
    }

    /// An empty state (no ids yet) running on `context`: start it with `prefill`.
    public init(context: InferenceContext) {
        self.context = context
        model = context.model
        entropyCaches = model.entropyModel.transformer.makeCaches()
        encoderCaches = model.encoder.layers.makeCaches()
        globalCaches = model.global.stack.makeCaches()
        decoderCaches = model.decoder.layers.makeCaches()
    }

    /// Bytes held by the self-attention KV caches (bf16 rows under bf16 precision, else fp32).
    var cacheBytes: Int { (entropyCaches + encoderCaches + globalCaches + decoderCaches).reduce(0) { $0 + $1.storedBytes } }

    /// An independent copy, caches included: continuing it leaves this state unchanged. The copy
    /// runs on the same context unless given another (whose workspace then serves this state's model).
    public func copy(context: InferenceContext? = nil) -> IncrementalState { IncrementalState(copying: self, context: context) }

    private init(copying other: IncrementalState, context: InferenceContext?) {
        model = other.model
        self.context = context ?? other.context
        ids = other.ids
        entropies = other.entropies
        nextLogits = other.nextLogits
        entropyCaches = other.entropyCaches.map { $0.copy() }
        encoderCaches = other.encoderCaches.map { $0.copy() }
        globalCaches = other.globalCaches.map { $0.copy() }
        decoderCaches = other.decoderCaches.map { $0.copy() }
        pendingByteStates = other.pendingByteStates
        pendingStart = other.pendingStart
        lastByteState = other.lastByteState
        globalRows = other.globalRows
        patchKeys = other.patchKeys
        decoderPatchOfLast = other.decoderPatchOfLast
    }

    /// Patch lengths of the ids processed so far under the model's `patching`, in transformers' convention.
    public var patchLengths: [Int] { lengths() }

    /// Patches of the ids so far; the entry points refuse rules that cannot run incrementally, so
    /// this cannot fail.
    private func lengths() -> [Int] {
        guard let lengths = try? model.patching.patchLengths(ids: ids, entropies: entropies) else {
            preconditionFailure("IncrementalState runs only incremental patching rules (checked by prefill, step and logits)")
        }
        return lengths
    }

    /// Generation patches a growing sequence: a rule whose earlier decisions change as it grows
    /// (top-k) cannot be used.
    static func checkIncremental(_ scheme: PatchingScheme, length: Int) throws {
        guard scheme.rule.isIncremental else {
            throw BLTError.invalidInput("\(scheme.rule.name) patching decides over the whole sequence, so its earlier patches change as bytes are generated; generate with the entropy, monotonic, entropy+monotonic, space or static rule")
        }
        // The caches carry the entropy model's context on; the official context would restart it.
        if scheme.entropyContext == .official, scheme.rule.needsEntropies, length > EntropyContext.officialChunk {
            throw BLTError.invalidInput("the official entropy context restarts the entropy model every \(EntropyContext.officialChunk) ids, which incremental decoding does not do; keep the sequence within \(EntropyContext.officialChunk) ids or use the transformers entropy context")
        }
    }

    /// Runs `newIDs` through the model in one batched pass (a prompt, BOS first as `Tokenizer.encode`
    /// gives it; later calls continue the sequence); `nextLogits` then predicts the id after them.
    /// - Throws: `BLTError.invalidInput` for no ids or ids outside the vocabulary.
    public func prefill(_ newIDs: [Int32]) throws {
        try Self.checkIncremental(model.patching, length: ids.count + newIDs.count)
        try model.validate(newIDs)
        append(newIDs[...])
    }

    /// Runs one more id through the model and returns the logits (260) for the id after it.
    public func step(_ id: Int32) throws -> [Float] {
        try Self.checkIncremental(model.patching, length: ids.count + 1)
        try model.validate([id])
        append([id])
        return nextLogits
    }

    /// Appends `newIDs` in one batched pass and returns the logits rows of positions
    /// max(0, ids.count − 1) ..< ids.count + newIDs.count (counts before the call): row r predicts
    /// new id r when the state held ids before (its first row is the last old position's), and the
    /// last row the id after them. These are the rows a full forward over the longer sequence
    /// gives, so scoring continuations on `copy()`s of a prefilled context computes it once.
    public func logits(appending newIDs: [Int32]) throws -> [Float] {
        try Self.checkIncremental(model.patching, length: ids.count + newIDs.count)
        try model.validate(newIDs.isEmpty ? [Tokenizer.bosID] : newIDs)
        return append(newIDs[...], allRows: true)
    }

    /// Processes `newIDs` (valid ids). Returns, when `allRows`, the logits described in
    /// `logits(appending:)`, else `nextLogits`.
    @discardableResult
    func append(_ newIDs: ArraySlice<Int32>, allRows: Bool = false) -> [Float] {
        guard !newIDs.isEmpty else { return nextLogits }
        let start = ids.count, before = nextLogits
        ids += newIDs
        let end = ids.count
        let d = model.config.encoder.hiddenSize
        // 1. Entropy model and local encoder: causal, so new positions just extend the caches.
        let workspace = context.workspace
        let newLogits = model.entropyModel.logits(newIDs, caches: entropyCaches, packing: nil, workspace: workspace)
        entropies += Patching.entropies(logits: newLogits, rows: newIDs.count, width: model.vocabularySize)
        let byteStates = Array(UnsafeBufferPointer(
            start: model.encoder.byteStates(ids, positions: start..<end, caches: encoderCaches, workspace: workspace),
            count: newIDs.count * d))
        pendingByteStates += byteStates

        // 2. Patches as the full forward would see them at this length, and the patch each byte's
        //    decoder cross-attention reads.
        let lengths = self.lengths()
        let decoderPatches = Patching.decoderPatchIDs(lengths: lengths, count: end)
        // transformers drops the empty trailing patch when max_patch_length is set, so the last
        // byte's decoder patch can change once the next byte arrives: recompute that position.
        var first = start
        if start > 0, decoderPatches[start - 1] != decoderPatchOfLast {
            first = start - 1
            for cache in decoderCaches { cache.truncate(to: first) }
        }
        let rows = Array(decoderPatches[first..<end])
        let needed = rows.contains(-1) ? lengths.count - 1 : rows.max()!
        computeGlobalRows(through: needed, lengths: lengths)

        // 3. Local decoder over the new positions, reading the cached patch keys.
        let decoderInput = first < start ? lastByteState + byteStates : byteStates
        let lowest = Swift.max(0, rows.filter { $0 >= 0 }.min() ?? 0)
        let highest = Swift.max(lowest, needed)
        let keys = gatherPatchKeys(lowest...highest)
        let count = end - first, width = model.vocabularySize
        let states = decoderInput.withUnsafeBufferPointer {
            model.decoder.states(byteStates: $0.baseAddress!, count: count, keys: keys,
                                 patchOfRow: rows.map { $0 < 0 ? -1 : $0 - lowest }, caches: decoderCaches, workspace: workspace)
        }
        // All rows, or only the last (generation needs the next id's logits alone).
        let logitRows = allRows ? 0..<count : count - 1 ..< count
        let logits = model.decoder.logits(states: states + logitRows.lowerBound * model.config.decoder.hiddenSize, count: logitRows.count, workspace: workspace)
        let rowsLogits = Array(UnsafeBufferPointer(start: logits, count: logitRows.count * width))
        nextLogits = Array(rowsLogits[((logitRows.count - 1) * width)...])
        lastByteState = Array(byteStates[(byteStates.count - d)...])
        decoderPatchOfLast = decoderPatches[end - 1]
        for patch in patchKeys.keys where patch < lowest - 1 { patchKeys[patch] = nil }
        guard allRows else { return nextLogits }
        // The row of the last old position was recomputed when its decoder patch changed.
        return first < start ? rowsLogits : before + rowsLogits
    }

    /// Encoder cross-attention, global step and decoder keys for every patch up to `last`; each of
    /// them is complete (a later patch has started), so its row never changes.
    private func computeGlobalRows(through last: Int, lengths: [Int]) {
        guard last >= globalRows else { return }
        let ranges = Patching.ranges(lengths: lengths)
        let d = model.config.encoder.hiddenSize
        let newPatches = Array(ranges[globalRows...last]).map { ($0.lowerBound - pendingStart) ..< ($0.upperBound - pendingStart) }
        let byteCount = pendingByteStates.count / d
        let workspace = context.workspace
        let patchStates = workspace.floats(.encoderPatches, newPatches.count * model.config.crossAttentionK * d)
        pendingByteStates.withUnsafeBufferPointer {
            model.encoder.patchStates(byteStates: $0.baseAddress!, count: byteCount, ranges: newPatches, into: patchStates,
                                      workspace: workspace)
        }
        let globalStates = model.global.forward(patchStates, patchCount: newPatches.count, caches: globalCaches, packing: nil,
                                                workspace: workspace)
        let keys = model.decoder.patchKeys(globalStates: globalStates, patchCount: newPatches.count, workspace: workspace)
        let k = model.config.crossAttentionK, width = model.config.decoder.keyValueWidth
        for (offset, patch) in (globalRows...last).enumerated() {
            let first = offset * k * width
            patchKeys[patch] = zip(keys.keys, keys.values).map {
                (Array(UnsafeBufferPointer(start: $0 + first, count: k * width)), Array(UnsafeBufferPointer(start: $1 + first, count: k * width)))
            }
        }
        globalRows = last + 1
        // Bytes of completed patches are no longer needed by the encoder's cross-attention.
        let consumed = ranges[last].upperBound - pendingStart
        pendingByteStates.removeFirst(consumed * d)
        pendingStart += consumed
    }

    /// The cached keys and values of `patches`, end to end per decoder cross-attention layer, in
    /// the workspace's patch-key slots.
    private func gatherPatchKeys(_ patches: ClosedRange<Int>) -> LocalDecoder.PatchKeys {
        let k = model.config.crossAttentionK, width = model.config.decoder.keyValueWidth, rows = patches.count * k
        var keys = LocalDecoder.PatchKeys(count: rows, keys: [], values: [])
        for layer in model.decoder.crossAttentions.indices {
            let layerKeys = context.workspace.floats(.patchKeys(layer: layer), rows * width)
            let layerValues = context.workspace.floats(.patchValues(layer: layer), rows * width)
            for (offset, patch) in patches.enumerated() {
                let kv = patchKeys[patch]![layer]
                (layerKeys + offset * k * width).update(from: kv.keys, count: k * width)
                (layerValues + offset * k * width).update(from: kv.values, count: k * width)
            }
            keys.keys.append(layerKeys); keys.values.append(layerValues)
        }
        return keys
    }
}

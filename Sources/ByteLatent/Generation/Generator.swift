/// Incremental generation. Every component of BLT is causal, so instead of recomputing the whole
/// prefix for every new byte (as both public implementations do) each byte costs: one entropy-model
/// step, one local-encoder step (KV caches, sliding windows), a global-transformer step when a
/// patch completes (KV cache over patches) and one local-decoder step. The prompt is processed in
/// one batched pass that fills the caches. See Docs/generate.md for why this equals the full
/// recomputation.
public final class Generator: Sequence, IteratorProtocol {
    public let model: BLTModel
    /// Prompt plus generated ids so far.
    public private(set) var ids: [Int32]
    public let promptCount: Int
    /// Next-byte entropies (nats) of every processed position.
    public private(set) var entropies: [Float] = []
    public var maxNewIDs: Int
    public var stopAtEOS: Bool

    private var sampler: Sampler
    private var processed = 0            // ids[0..<processed] went through the model
    private var lastLogits: [Float] = []
    private let entropyCaches: [KVCache]
    private let encoderCaches: [KVCache]
    private let globalCaches: [KVCache]
    private let decoderCaches: [KVCache]
    /// Encoder byte states of positions pendingStart ..< processed (bytes of patches without a global row yet).
    private var pendingByteStates: [Float] = []
    private var pendingStart = 0
    private var lastByteState: [Float] = []
    private var globalRows = 0           // patches 0..<globalRows have global rows and decoder keys
    private var patchKeys: [Int: [(keys: [Float], values: [Float])]] = [:]
    private var decoderPatchOfLast = -2  // decoder patch used for position processed − 1

    /// - Throws: `BLTError.invalidInput` for an empty prompt, ids outside the vocabulary, or a
    ///   prompt plus `maxNewIDs` longer than the local models' positions.
    public init(model: BLTModel, prompt: [Int32], sampling: SamplingOptions = .greedy, maxNewIDs: Int = 256,
                stopAtEOS: Bool = true) throws {
        try model.validate(prompt)
        let limit = Swift.min(model.config.patcher.maxPositions, model.config.encoder.maxPositions, model.config.decoder.maxPositions)
        if maxNewIDs < 0 || prompt.count > limit || maxNewIDs > limit - prompt.count {   // no overflow for any maxNewIDs
            throw BLTError.invalidInput("the prompt (\(prompt.count) ids) plus \(maxNewIDs) new bytes exceeds the model's \(limit) positions; shorten the prompt (keep its last \(Swift.max(1, limit - maxNewIDs)) bytes) or ask for fewer bytes")
        }
        self.model = model
        ids = prompt
        promptCount = prompt.count
        self.maxNewIDs = maxNewIDs
        self.stopAtEOS = stopAtEOS
        sampler = Sampler(sampling)
        entropyCaches = model.entropyModel.transformer.makeCaches()
        encoderCaches = model.encoder.layers.makeCaches()
        globalCaches = model.global.stack.makeCaches()
        decoderCaches = model.decoder.layers.makeCaches()
        process(upTo: prompt.count)   // prefill: one batched pass over the prompt
    }

    /// Patch lengths of the ids processed so far, in transformers' convention.
    public var patchLengths: [Int] { model.patchLengths(entropies: entropies) }
    public var generatedIDs: ArraySlice<Int32> { ids[promptCount...] }
    /// Logits (260) for the id after the last processed one.
    public var nextLogits: [Float] { catchUp(); return lastLogits }

    /// The next id, or nil once `maxNewIDs` ids were made or EOS came (when `stopAtEOS`).
    public func next() -> Int32? {
        guard ids.count - promptCount < maxNewIDs else { return nil }
        if stopAtEOS, ids.count > promptCount, ids.last == Tokenizer.eosID { return nil }
        catchUp()
        let id = sampler.sample(lastLogits[...])
        ids.append(id)
        return id
    }

    /// Runs the model over ids not yet processed (the last generated one), so that `entropies` and
    /// `patchLengths` cover every id.
    public func catchUp() {
        if processed < ids.count { process(upTo: ids.count) }
    }

    /// Appends `newIDs` (after catching up) and processes them in one batched pass. Returns the
    /// logits rows [newIDs.count + 1, 260] of positions `ids.count − 1 ..< ids.count + newIDs.count`
    /// as they were before the call, i.e. row r predicts new id r (and the last row the id after
    /// them): what a full forward over the longer sequence gives. Scoring continuations this way
    /// on a `fork()` of a prefilled context computes the shared context once.
    public func appendAndReturnLogits(_ newIDs: [Int32]) throws -> [Float] {
        try model.validate(newIDs.isEmpty ? [Tokenizer.bosID] : newIDs)
        catchUp()
        let before = lastLogits
        ids += newIDs
        guard !newIDs.isEmpty else { return before }
        let (first, logits) = process(upTo: ids.count, allRows: true)
        // The row of the last old position is recomputed when its decoder patch changed.
        return first < processed - newIDs.count ? logits : before + logits
    }

    /// An independent copy (caches included) of this generator's state: continuing it leaves this one unchanged.
    public func fork() -> ByteLatent.Generator { ByteLatent.Generator(copying: self) }

    private init(copying other: ByteLatent.Generator) {
        model = other.model
        ids = other.ids
        promptCount = other.promptCount
        entropies = other.entropies
        maxNewIDs = other.maxNewIDs
        stopAtEOS = other.stopAtEOS
        sampler = other.sampler
        processed = other.processed
        lastLogits = other.lastLogits
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

    /// Processes ids[processed ..< end]. Returns the first recomputed position (processed − 1 when the
    /// last old byte's decoder patch changed) and, when `allRows`, the logits of every position from
    /// it to `end` (else only the last row's).
    @discardableResult
    private func process(upTo end: Int, allRows: Bool = false) -> (first: Int, logits: [Float]) {
        let start = processed
        let d = model.config.encoder.hiddenSize
        // 1. Entropy model and local encoder: causal, so new positions just extend the caches.
        let newLogits = model.entropyModel.logits(Array(ids[start..<end]), caches: entropyCaches)
        entropies += ByteLatent.entropies(logits: newLogits, width: model.vocabularySize)
        let byteStates = model.encoder.byteStates(ids, positions: start..<end, caches: encoderCaches)
        pendingByteStates += byteStates
        processed = end

        // 2. Patches as the full forward would see them at this length, and the patch each byte's
        //    decoder cross-attention reads.
        let lengths = model.patchLengths(entropies: entropies)
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
        var keys = LocalDecoder.PatchKeys(count: (highest - lowest + 1) * model.config.crossAttentionK,
                                          perLayer: model.decoder.crossAttentions.map { _ in ([], []) })
        for patch in lowest...highest {
            for (layer, kv) in patchKeys[patch]!.enumerated() {
                keys.perLayer[layer].keys += kv.keys
                keys.perLayer[layer].values += kv.values
            }
        }
        let count = end - first
        let states = model.decoder.states(byteStates: decoderInput, count: count, keys: keys,
                                          patchOfRow: rows.map { $0 < 0 ? -1 : $0 - lowest }, caches: decoderCaches)
        let rowsLogits = allRows ? model.decoder.logits(states: states, count: count) : []
        lastLogits = allRows ? Array(rowsLogits[((count - 1) * model.vocabularySize)...])
                             : model.decoder.logits(states: Array(states[(count - 1) * d ..< count * d]), count: 1)
        lastByteState = Array(byteStates[(byteStates.count - d)...])
        decoderPatchOfLast = decoderPatches[end - 1]
        for patch in patchKeys.keys where patch < lowest - 1 { patchKeys[patch] = nil }
        return (first, allRows ? rowsLogits : lastLogits)
    }

    /// Encoder cross-attention, global step and decoder keys for every patch up to `last`; each of
    /// them is complete (a later patch has started), so its row never changes.
    private func computeGlobalRows(through last: Int, lengths: [Int]) {
        guard last >= globalRows else { return }
        let ranges = Patching.ranges(lengths: lengths)
        let d = model.config.encoder.hiddenSize
        let newPatches = Array(ranges[globalRows...last]).map { ($0.lowerBound - pendingStart) ..< ($0.upperBound - pendingStart) }
        let byteCount = pendingByteStates.count / d
        let patchStates = model.encoder.patchStates(byteStates: pendingByteStates, count: byteCount, ranges: newPatches)
        let globalStates = model.global.forward(patchStates, patchCount: newPatches.count, caches: globalCaches)
        let keys = model.decoder.patchKeys(globalStates: globalStates, patchCount: newPatches.count)
        let k = model.config.crossAttentionK, width = model.config.decoder.keyValueWidth
        for (offset, patch) in (globalRows...last).enumerated() {
            let rows = offset * k * width ..< (offset + 1) * k * width
            patchKeys[patch] = keys.perLayer.map { (Array($0.keys[rows]), Array($0.values[rows])) }
        }
        globalRows = last + 1
        // Bytes of completed patches are no longer needed by the encoder's cross-attention.
        let consumed = ranges[last].upperBound - pendingStart
        pendingByteStates.removeFirst(consumed * d)
        pendingStart += consumed
    }
}

/// Everything mutable that running a `BLTModel` needs (llama.cpp's llama_context beside its
/// llama_model): the activation workspace (sized by the first pass, grown only when a larger one
/// arrives) and the kernels' scratch buffers. Incremental decoding states made on a context
/// (`IncrementalState(context:)`) keep their KV caches and run on its workspace.
///
/// One context runs one pass at a time: use it from one thread at a time. Contexts share nothing
/// but the model's immutable weights, so several contexts on one model run on several threads at
/// once, each giving exactly what it gives alone (OpenBLAS is held at one thread and each product
/// is split across the engine's own workers: see `OpenBLASThreads`).
///
/// Every method's results are copied out of the workspace; the workspace itself is reused.
public final class InferenceContext {
    public let model: BLTModel
    let workspace = Workspace()

    public init(model: BLTModel) {
        self.model = model
    }

    /// Allocations above 64 KB this context has made (activation buffers and kernel scratch):
    /// after a warm-up pass, a pass of the same or a smaller shape adds none.
    public var largeAllocationCount: Int { workspace.largeAllocations }
    /// Bytes the context has reserved for activations and kernel scratch (address space: a page
    /// is resident only once a pass has touched it).
    public var reservedBytes: Int { workspace.reservedBytes }

    // MARK: Entropy model

    /// The entropy model's next-byte logits, [ids.count, 260] (a packed pass of one sequence).
    public func entropyModelLogits(_ ids: [Int32]) throws -> [Float] {
        try model.validate(ids)
        let logits = model.entropyModel.logits(ids, caches: nil, packing: PackedRows(lengths: [ids.count]), workspace: workspace)
        return Array(UnsafeBufferPointer(start: logits, count: ids.count * model.vocabularySize))
    }

    /// Next-byte entropy (nats) at every position: H[t] is the entropy model's uncertainty about id t + 1.
    public func entropies(_ ids: [Int32]) throws -> [Float] {
        if ids.count > model.config.patcher.maxPositions { return try entropiesInWindows(ids, context: .transformers) }
        return try entropies(batch: [ids])[0]
    }

    /// Entropies under `context`: `.official` runs every 8,192 ids as a sequence of its own, as the
    /// official `calculate_entropies` does (`.transformers`: `entropies(ids)`).
    public func entropies(_ ids: [Int32], context: EntropyContext) throws -> [Float] {
        try entropies(batch: [ids], context: context)[0]
    }

    /// `entropies(batch:)` under `context` (see `entropies(_:context:)`). A sequence longer than one
    /// pass may be (the entropy model's positions, or the official chunk) runs window by window
    /// (`EntropyWindows`), so memory does not grow with its length.
    public func entropies(batch: [[Int32]], context: EntropyContext) throws -> [[Float]] {
        let longest = context == .official ? EntropyContext.officialChunk : model.config.patcher.maxPositions
        guard batch.contains(where: { $0.count > longest }) else { return try entropies(batch: batch) }
        return try batch.map { ids in
            try ids.count > longest ? entropiesInWindows(ids, context: context) : entropies(batch: [ids])[0]
        }
    }

    /// Entropies of several sequences from one packed pass of the entropy model: each equals
    /// `entropies(ids)` of that sequence alone (up to fp32 summation order).
    public func entropies(batch: [[Int32]]) throws -> [[Float]] {
        for ids in batch { try model.validate(ids) }
        let packing = PackedRows(lengths: batch.map(\.count))
        reserve(rows: packing.count)
        let logits = model.entropyModel.logits(batch.joined(), caches: nil, packing: packing, workspace: workspace)
        let all = Patching.entropies(logits: logits, rows: packing.count, width: model.vocabularySize)
        return packing.ranges.map { Array(all[$0]) }
    }

    // MARK: Patches

    /// Patch lengths of `ids` under the model's `patching` (the entropy model runs only when the
    /// rule reads entropies), in transformers' layout (see `PatchingScheme.patchLengths`).
    public func patchLengths(_ ids: [Int32]) throws -> [Int] {
        try model.patchLengths(ids: ids, entropies: model.patching.rule.needsEntropies ? entropies(ids) : [])
    }

    /// Patch lengths of several sequences from one packed pass of the entropy model, equal to each
    /// sequence's own `patchLengths(_:)` under `scheme` (default: the model's). A packed pass sums in
    /// another order than a pass alone (OpenBLAS rounds a row differently in a GEMM of another
    /// height), so an entropy may move by ~1e-6; a sequence with a decision that close to flipping
    /// gets its entropies recomputed alone, and so every decision is the one-at-a-time decision.
    public func patchLengths(batch: [[Int32]], scheme: PatchingScheme? = nil) throws -> [[Int]] {
        try patching(batch: batch, scheme: scheme).map(\.lengths)
    }

    /// `patchLengths(batch:scheme:)` with the entropies each sequence's patches were decided on
    /// (the packed pass's, or the pass alone's where a decision was close; NaN when the rule reads
    /// none). `entropies` holds what was computed for this batch already (a sweep reuses it).
    package func patching(batch: [[Int32]], scheme: PatchingScheme? = nil, entropies given: BatchEntropies? = nil) throws
        -> [(entropies: [Float], lengths: [Int])] {
        let scheme = scheme ?? model.patching
        guard scheme.rule.needsEntropies else {
            return try batch.map { ([Float](repeating: .nan, count: $0.count), try scheme.patchLengths(ids: $0, entropies: [])) }
        }
        let memo = given ?? BatchEntropies(context: self, batch: batch, entropyContext: scheme.entropyContext)
        let margin = BLTModel.thresholdRecheckMargin * max(1, abs(scheme.threshold))
        let packed = try memo.packed()
        return try batch.indices.map { s in
            // A batch of one is the pass alone.
            let close = batch.count > 1 && scheme.isClose(entropies: packed[s], margin: margin)
            let entropies = close ? try memo.alone(s) : packed[s]
            return (entropies, try scheme.patchLengths(ids: batch[s], entropies: entropies))
        }
    }

    // MARK: Forward passes

    /// Next-byte logits [ids.count, 260]: logits row t predicts id t + 1. Patch lengths are computed
    /// by the entropy model unless given (they must sum to ids.count, first patch of length 1).
    public func logits(_ ids: [Int32], patchLengths: [Int]? = nil) throws -> [Float] {
        try logits(batch: [ids], patchLengths: patchLengths.map { [$0] })[0]
    }

    /// Everything one forward pass computes, for research code and parity tests.
    public func forward(_ ids: [Int32], patchLengths given: [Int]? = nil) throws -> BLTModel.Forward {
        try forward(batch: [ids], patchLengths: given.map { [$0] })[0]
    }

    /// `forward` of several sequences (documents or windows, each starting with its BOS) in one
    /// packed pass: every sequence gets exactly what it would get alone (its own patches, positions
    /// from 0, attention and cross-attention inside the sequence only), while the matrix products
    /// run over all rows at once. Patch lengths are computed per sequence unless given.
    public func forward(batch: [[Int32]], patchLengths given: [[Int]]? = nil) throws -> [BLTModel.Forward] {
        let pass = packedPass(batch, patchLengths: try checkedPatchLengths(batch, given), keepStages: true)
        let c = model.config, d = c.encoder.hiddenSize
        return pass.bytes.ranges.indices.map { s in
            let bytes = pass.bytes.ranges[s], patches = pass.patches.ranges[s]
            func rows(_ buffer: UnsafePointer<Float>?, _ range: Range<Int>, _ width: Int) -> [Float] {
                Array(UnsafeBufferPointer(start: buffer.map { $0 + range.lowerBound * width }, count: range.count * width))
            }
            return BLTModel.Forward(patchLengths: pass.patchLengths[s], embeddings: rows(pass.embeddings, bytes, d),
                                    encoderStates: rows(pass.encoderStates, bytes, d),
                                    encoderPatches: rows(pass.encoderPatches, patches, c.crossAttentionK * d),
                                    globalStates: rows(pass.globalStates, patches, c.global.hiddenSize),
                                    decoderStates: rows(pass.decoderStates, bytes, c.decoder.hiddenSize),
                                    logits: rows(pass.logits, bytes, c.vocabularySize))
        }
    }

    /// `logits` of several sequences in one packed pass (see `forward(batch:patchLengths:)`).
    public func logits(batch: [[Int32]], patchLengths: [[Int]]? = nil) throws -> [[Float]] {
        let pass = packedPass(batch, patchLengths: try checkedPatchLengths(batch, patchLengths))
        let width = model.vocabularySize
        return pass.bytes.ranges.map { Array(UnsafeBufferPointer(start: pass.logits + $0.lowerBound * width, count: $0.count * width)) }
    }

    /// Logits of one packed forward pass over `batch` with the given patches (and embeddings, if
    /// computed ahead by `BLTModel.packedEmbeddings`), written into `logits` (its capacity kept, so a
    /// caller that passes the same array every pass maps no new pages for them): the rows of
    /// sequence s are the returned `byteRanges[s]`, `vocabularySize` logits each.
    package func packedLogits(_ batch: [[Int32]], patchLengths: [[Int]], embeddings: [Float]?, into logits: inout [Float]) throws
        -> [Range<Int>] {
        let lengths = try checkedPatchLengths(batch, patchLengths)
        let count = batch.reduce(0) { $0 + $1.count } * model.vocabularySize
        logits.removeAll(keepingCapacity: true)
        logits.append(contentsOf: repeatElement(0, count: count))
        return logits.withUnsafeMutableBufferPointer { buffer in
            packedPass(batch, patchLengths: lengths, embeddings: embeddings, logitsDestination: buffer.baseAddress!).bytes.ranges
        }
    }

    /// Sizes the slots that rows of the entropy model and the local models share for a pass of
    /// `rows` rows, at their widest, before the first of them runs: a slot that grew stack by
    /// stack would fault in fresh pages at every step. (The global transformer's slots grow as
    /// patches come.)
    func reserve(rows: Int) {
        let local = [model.config.patcher, model.config.encoder, model.config.decoder]
        var hidden = 0, keyValue = 0, inner = 0, pairs = 0
        for c in local {
            hidden = max(hidden, c.hiddenSize); keyValue = max(keyValue, c.keyValueWidth)
            inner = max(inner, c.intermediateSize); pairs = max(pairs, c.headDimension / 2)
        }
        for slot in [WorkspaceSlot.encoderStates, .normed, .projected] { _ = workspace.floats(slot, rows * hidden) }
        _ = workspace.floats(.queryOrGate, rows * max(hidden, inner, model.vocabularySize))
        _ = workspace.floats(.keyOrUp, rows * max(keyValue, inner))
        _ = workspace.floats(.value, rows * keyValue)
        _ = workspace.floats(.ropeCosines, rows * pairs)
        _ = workspace.floats(.ropeSines, rows * pairs)
        _ = workspace.buffer(.keyRanges, rows, of: Range<Int>.self)
        _ = workspace.buffer(.uniformRows, rows, of: Bool.self)
    }

    /// Checked ids and patch lengths of a pass (computed per sequence when not given).
    private func checkedPatchLengths(_ batch: [[Int32]], _ given: [[Int]]?) throws -> [[Int]] {
        guard !batch.isEmpty else { throw BLTError.invalidInput("no sequences to run: pass at least one") }
        for ids in batch { try model.validate(ids) }
        guard let given else { return try patchLengths(batch: batch, scheme: nil) }
        guard given.count == batch.count else {
            throw BLTError.invalidInput("\(given.count) patch-length lists for \(batch.count) sequences; give one per sequence")
        }
        return try zip(given, batch).map { try model.checkPatchLengths($0, count: $1.count) }
    }
}

/// One packed forward pass over a context's workspace: rows of sequence s are `bytes.ranges[s]`
/// (byte buffers) and `patches.ranges[s]` (patch buffers; encoderPatches has k·hidden per patch).
/// The buffers are workspace slots, valid until the context runs its next pass.
struct PackedPass {
    var bytes: PackedRows
    var patches: PackedRows
    var patchLengths: [[Int]]
    /// Nil unless the stages are kept (`keepStages`): the encoder otherwise embeds in place.
    var embeddings: UnsafePointer<Float>?
    /// Unless the stages are kept, the decoder ran in place over these: they are `decoderStates`.
    var encoderStates: UnsafePointer<Float>
    var encoderPatches: UnsafePointer<Float>
    var globalStates: UnsafePointer<Float>
    var decoderStates: UnsafePointer<Float>
    var logits: UnsafePointer<Float>
}

extension InferenceContext {
    /// Runs `batch` (checked ids, checked patch lengths) in one packed pass. `embeddings` may be
    /// given when computed ahead (`BLTModel.packedEmbeddings`, e.g. on another thread). Every
    /// stage's output is kept only with `keepStages` (else the decoder runs in place over the
    /// encoder's states); the logits go to `logitsDestination` ([rows, vocabulary]) when given.
    func packedPass(_ batch: [[Int32]], patchLengths lengths: [[Int]], embeddings given: [Float]? = nil,
                    keepStages: Bool = false, logitsDestination: UnsafeMutablePointer<Float>? = nil) -> PackedPass {
        let model = self.model, ws = workspace
        let bytes = PackedRows(lengths: batch.map(\.count))
        let patches = PackedRows(lengths: lengths.map(\.count))
        let n = bytes.count, d = model.config.encoder.hiddenSize, k = model.config.crossAttentionK
        reserve(rows: n)
        // In packed rows: each patch's bytes and its sequence's bytes (where an empty patch looks),
        // each byte's decoder patch and its sequence's patches (where a byte with none looks).
        var patchRanges: [Range<Int>] = [], sequenceOfPatch: [Range<Int>] = [], decoderPatch: [Int] = []
        patchRanges.reserveCapacity(patches.count); sequenceOfPatch.reserveCapacity(patches.count)
        decoderPatch.reserveCapacity(n)
        for (s, sequenceLengths) in lengths.enumerated() {
            let byteOffset = bytes.ranges[s].lowerBound, patchOffset = patches.ranges[s].lowerBound
            for r in Patching.ranges(lengths: sequenceLengths) {
                patchRanges.append(r.lowerBound + byteOffset ..< r.upperBound + byteOffset)
            }
            sequenceOfPatch.append(contentsOf: repeatElement(bytes.ranges[s], count: sequenceLengths.count))
            for p in Patching.decoderPatchIDs(lengths: sequenceLengths, count: batch[s].count) {
                decoderPatch.append(p < 0 ? -1 : p + patchOffset)
            }
        }
        let byteStates = ws.floats(.encoderStates, n * d)
        var embeddings: UnsafePointer<Float>?
        if let given {
            given.withUnsafeBufferPointer { byteStates.update(from: $0.baseAddress!, count: n * d) }
        } else if keepStages {
            let kept = ws.floats(.embeddings, n * d)
            model.encoder.embed(batch: batch, into: kept)
            byteStates.update(from: kept, count: n * d)
            embeddings = UnsafePointer(kept)
        } else {
            model.encoder.embed(batch: batch, into: byteStates)
        }
        model.encoder.layers.forward(byteStates, count: n, caches: nil, packing: bytes, workspace: ws)
        let encoderPatches = ws.floats(.encoderPatches, patches.count * k * d)
        model.encoder.patchStates(byteStates: byteStates, count: n, ranges: patchRanges, patches: patches,
                                  sequenceOfPatch: sequenceOfPatch, into: encoderPatches, workspace: ws)
        let globalStates = model.global.forward(encoderPatches, patchCount: patches.count, caches: nil, packing: patches,
                                                workspace: ws)
        let keys = model.decoder.patchKeys(globalStates: globalStates, patchCount: patches.count, workspace: ws)
        let patchesOfRow = { (row: Int) in patches.ranges[bytes.sequence(ofRow: row)] }
        let decoderStates: UnsafeMutablePointer<Float>
        if keepStages {
            decoderStates = model.decoder.states(byteStates: byteStates, count: n, keys: keys, patchOfRow: decoderPatch,
                                                 caches: nil, packing: bytes, patchesOfRow: patchesOfRow, workspace: ws)
        } else {
            decoderStates = byteStates
            model.decoder.run(decoderStates, count: n, keys: keys, patchOfRow: decoderPatch, caches: nil, packing: bytes,
                              patchesOfRow: patchesOfRow, workspace: ws)
        }
        let logits: UnsafeMutablePointer<Float>
        if let logitsDestination {
            logits = logitsDestination
            model.decoder.logits(states: decoderStates, count: n, into: logits, workspace: ws)
        } else {
            logits = model.decoder.logits(states: decoderStates, count: n, workspace: ws)
        }
        return PackedPass(bytes: bytes, patches: patches, patchLengths: lengths, embeddings: embeddings,
                          encoderStates: byteStates, encoderPatches: encoderPatches, globalStates: globalStates,
                          decoderStates: decoderStates, logits: logits)
    }
}

/// What the evaluation target (ByteLatentEval) needs from the model to score many windows in one
/// forward pass, without reaching into its parts (the pass itself: `InferenceContext.packedLogits`).
extension BLTModel {
    /// The hash n-gram embeddings of `batch`, computed ahead of `InferenceContext.packedLogits` (the
    /// evaluator does this on another thread while its context runs the previous pass).
    package func packedEmbeddings(_ batch: [[Int32]]) -> [Float] { encoder.embed(batch: batch) }

    /// `packedEmbeddings(_:)` written into `storage`, whose capacity is kept: a recycled buffer as
    /// large as the pass needs no new pages (and so no page faults).
    package func packedEmbeddings(_ batch: [[Int32]], into storage: inout [Float]) {
        let count = batch.reduce(0) { $0 + $1.count } * config.encoder.hiddenSize
        storage.removeAll(keepingCapacity: true)
        storage.append(contentsOf: repeatElement(0, count: count))
        if count > 0 { storage.withUnsafeMutableBufferPointer { encoder.embed(batch: batch, into: $0.baseAddress!) } }
    }
}

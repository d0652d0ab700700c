/// What the evaluation target (ByteLatentEval) needs from the model to score many windows in one
/// forward pass, without reaching into its parts.
extension BLTModel {
    /// The hash n-gram embeddings of `batch`, computed ahead of `packedLogits` (the evaluator does
    /// this on another thread while the model runs the previous pass).
    package func packedEmbeddings(_ batch: [[Int32]]) -> [Float] { encoder.embed(batch: batch) }

    /// Logits of one packed forward pass over `batch` with the given patches (and embeddings, if
    /// computed ahead): the rows of sequence s are `byteRanges[s]`, `vocabularySize` logits each.
    package func packedLogits(_ batch: [[Int32]], patchLengths: [[Int]], embeddings: [Float]?) throws
        -> (logits: [Float], byteRanges: [Range<Int>]) {
        let pass = try packedForward(batch, patchLengths: patchLengths, embeddings: embeddings)
        return (pass.logits, pass.bytes.ranges)
    }
}

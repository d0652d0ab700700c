/// What the evaluation target (ByteLatentEval) needs from the model to score many windows in one
/// forward pass, without reaching into its parts (the pass itself: `InferenceContext.packedLogits`).
extension BLTModel {
    /// The hash n-gram embeddings of `batch`, computed ahead of `InferenceContext.packedLogits` (the
    /// evaluator does this on another thread while its context runs the previous pass).
    package func packedEmbeddings(_ batch: [[Int32]]) -> [Float] { encoder.embed(batch: batch) }
}

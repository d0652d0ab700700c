/// The entropies of one packed batch of sequences, computed once and kept: a threshold sweep patches
/// the same batch under many settings from them, and a sequence recomputed alone (a decision close
/// to flipping) is recomputed once for all settings. Computed in the context that made it, so
/// used from that context's thread.
package final class BatchEntropies {
    let context: InferenceContext
    package let batch: [[Int32]]
    package let entropyContext: EntropyContext
    private var packedValues: [[Float]]?
    private var aloneValues: [Int: [Float]] = [:]

    package init(context: InferenceContext, batch: [[Int32]], entropyContext: EntropyContext) {
        self.context = context
        self.batch = batch
        self.entropyContext = entropyContext
    }

    /// Each sequence's entropies from one packed pass of the entropy model.
    package func packed() throws -> [[Float]] {
        if let packedValues { return packedValues }
        let values = try context.entropies(batch: batch, context: entropyContext)
        packedValues = values
        return values
    }

    /// Sequence `s`'s entropies from a pass of its own.
    package func alone(_ s: Int) throws -> [Float] {
        if let values = aloneValues[s] { return values }
        let values = try context.entropies(batch[s], context: entropyContext)
        aloneValues[s] = values
        return values
    }
}

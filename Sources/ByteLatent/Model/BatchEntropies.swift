/// The entropies of one packed batch of sequences, computed once and kept: a threshold sweep patches
/// the same batch under many settings from them, and a sequence recomputed alone (a decision close
/// to flipping) is recomputed once for all settings.
package final class BatchEntropies: @unchecked Sendable {
    let model: BLTModel
    package let batch: [[Int32]]
    package let context: EntropyContext
    private var packedValues: [[Float]]?
    private var aloneValues: [Int: [Float]] = [:]

    package init(model: BLTModel, batch: [[Int32]], context: EntropyContext) {
        self.model = model
        self.batch = batch
        self.context = context
    }

    /// Each sequence's entropies from one packed pass of the entropy model.
    package func packed() throws -> [[Float]] {
        if let packedValues { return packedValues }
        let values = try model.entropies(batch: batch, context: context)
        packedValues = values
        return values
    }

    /// Sequence `s`'s entropies from a pass of its own.
    package func alone(_ s: Int) throws -> [Float] {
        if let values = aloneValues[s] { return values }
        let values = try model.entropies(batch[s], context: context)
        aloneValues[s] = values
        return values
    }
}

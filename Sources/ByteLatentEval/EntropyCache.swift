import ByteLatent

/// The entropies of a run's packed passes, kept so that the next run over the same passes (the next
/// setting of a sweep) patches from them instead of running the entropy model again. Passes are
/// matched by their place in the run and checked by their ids.
final class EntropyCache: @unchecked Sendable {
    private var kept: [Int: BatchEntropies] = [:]

    func entropies(of batch: Batch, model: BLTModel, context: EntropyContext) -> BatchEntropies {
        if let known = kept[batch.ordinal], known.context == context, known.batch == batch.sequences { return known }
        let fresh = BatchEntropies(model: model, batch: batch.sequences, context: context)
        kept[batch.ordinal] = fresh
        return fresh
    }
}

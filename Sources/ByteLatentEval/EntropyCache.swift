import ByteLatent

/// The entropies of a run's packed passes, kept so that the next run over the same passes (the next
/// setting of a sweep) patches from them instead of running the entropy model again. Passes are
/// matched by their place in the run and checked by their ids.
final class EntropyCache: @unchecked Sendable {
    private var kept: [Int: BatchEntropies] = [:]

    func entropies(of batch: Batch, in context: InferenceContext, entropyContext: EntropyContext) -> BatchEntropies {
        if let known = kept[batch.ordinal], known.entropyContext == entropyContext, known.batch == batch.sequences { return known }
        let fresh = BatchEntropies(context: context, batch: batch.sequences, entropyContext: entropyContext)
        kept[batch.ordinal] = fresh
        return fresh
    }
}

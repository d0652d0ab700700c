/// How a sequence longer than the entropy model's positions is split into passes, each holding at
/// most `positions` ids (8,192 for `.official`), so memory stays that of one pass whatever the length.
///
/// `.official` restarts every `EntropyContext.officialChunk` ids, as the official
/// `calculate_entropies` does. `.transformers` keeps, before the ids a window contributes, the
/// `history` ids before them: min(layers × sliding window, positions / 2). Attention reaches back
/// one sliding window per layer, so where layers × window fits, every entropy equals the
/// whole-sequence pass's (transformers', which runs past the positions) up to rounding; a model
/// without a sliding window sees the last positions / 2 ids.
struct EntropyWindows: Equatable {
    /// One pass: the ids `start ..< kept.upperBound` run, and the entropies of `kept` are used.
    struct Window: Equatable {
        var start: Int
        var kept: Range<Int>
    }

    let windows: [Window]

    init(count: Int, context: EntropyContext, positions: Int, layers: Int, slidingWindow: Int?) {
        let size = max(1, context == .official ? EntropyContext.officialChunk : positions)
        let history: Int
        switch context {
        case .official: history = 0
        case .transformers:
            let reach = slidingWindow.map { $0.multipliedReportingOverflow(by: max(1, layers)) }
            history = min(reach.flatMap { $0.overflow ? nil : $0.partialValue } ?? size / 2, size / 2)
        }
        var windows: [Window] = []
        var next = 0
        while next < count {
            let start = max(0, next - history)
            let end = min(count, start + size)
            windows.append(Window(start: start, kept: next ..< end))
            next = end
        }
        self.windows = windows
    }
}

extension InferenceContext {
    /// Entropies of one sequence longer than a pass may be, window by window (`EntropyWindows`).
    func entropiesInWindows(_ ids: [Int32], context: EntropyContext) throws -> [Float] {
        try model.validate(ids)
        let config = model.config
        let plan = EntropyWindows(count: ids.count, context: context, positions: config.patcher.maxPositions,
                                  layers: config.patcher.layerCount, slidingWindow: config.patcher.slidingWindow)
        var entropies: [Float] = []
        entropies.reserveCapacity(ids.count)
        for window in plan.windows {
            let computed = try self.entropies(batch: [Array(ids[window.start ..< window.kept.upperBound])])[0]
            entropies += computed[(window.kept.lowerBound - window.start)...]
        }
        return entropies
    }
}

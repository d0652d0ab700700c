/// Generation: samples one byte at a time and feeds it back through the model's
/// `IncrementalState`, so each byte costs one step of every part of BLT instead of a forward pass
/// over the whole prefix (as both public implementations do). The prompt runs in one batched pass.
/// It runs on an `InferenceContext` (its own unless given one): one thread at a time per context.
public final class ByteGenerator: Sequence, IteratorProtocol {
    public var model: BLTModel { state.model }
    public var context: InferenceContext { state.context }
    /// Prompt plus generated ids so far.
    public private(set) var ids: [Int32]
    public let promptCount: Int
    public var maxNewIDs: Int
    public var stopAtEOS: Bool

    private var sampler: Sampler
    /// The model's state over ids[0..<state.ids.count]; the last sampled id joins it on the next call.
    private let state: IncrementalState

    /// - Throws: `BLTError.invalidInput` for an empty prompt, ids outside the vocabulary, or a
    ///   prompt plus `maxNewIDs` longer than the local models' positions.
    public convenience init(model: BLTModel, prompt: [Int32], sampling: SamplingOptions = .greedy, maxNewIDs: Int = 256,
                            stopAtEOS: Bool = true) throws {
        try self.init(context: InferenceContext(model: model), prompt: prompt, sampling: sampling, maxNewIDs: maxNewIDs,
                      stopAtEOS: stopAtEOS)
    }

    /// A generator running on `context` (see `init(model:prompt:sampling:maxNewIDs:stopAtEOS:)`).
    public init(context: InferenceContext, prompt: [Int32], sampling: SamplingOptions = .greedy, maxNewIDs: Int = 256,
                stopAtEOS: Bool = true) throws {
        let model = context.model
        try model.validate(prompt)
        let limit = model.maxSequenceLength
        if maxNewIDs < 0 || prompt.count > limit || maxNewIDs > limit - prompt.count {   // no overflow for any maxNewIDs
            throw BLTError.invalidInput("the prompt (\(prompt.count) ids) plus \(maxNewIDs) new bytes exceeds the model's \(limit) positions; shorten the prompt (keep its last \(Swift.max(1, limit - maxNewIDs)) bytes) or ask for fewer bytes")
        }
        try IncrementalState.checkIncremental(model.patching, length: prompt.count + maxNewIDs)
        ids = prompt
        promptCount = prompt.count
        self.maxNewIDs = maxNewIDs
        self.stopAtEOS = stopAtEOS
        sampler = Sampler(sampling)
        state = IncrementalState(context: context)
        try state.prefill(prompt)
    }

    /// An independent copy (model state included): continuing it leaves this generator unchanged.
    /// The copy runs on the same context unless given another.
    public func fork(context: InferenceContext? = nil) -> ByteGenerator { ByteGenerator(copying: self, context: context) }

    private init(copying other: ByteGenerator, context: InferenceContext?) {
        ids = other.ids
        promptCount = other.promptCount
        maxNewIDs = other.maxNewIDs
        stopAtEOS = other.stopAtEOS
        sampler = other.sampler
        failure = other.failure
        state = other.state.copy(context: context)
    }

    /// Next-byte entropies (nats) of every processed position.
    public var entropies: [Float] { state.entropies }
    /// Patch lengths of the ids processed so far, in transformers' convention.
    public var patchLengths: [Int] { state.patchLengths }
    public var generatedIDs: ArraySlice<Int32> { ids[promptCount...] }
    /// Logits (260) for the id after the last processed one.
    public var nextLogits: [Float] { catchUp(); return state.nextLogits }

    /// Why generation stopped before its end, if it did: the model's logits were not finite.
    /// `next()` then returns nil; callers report this as the error it is.
    public private(set) var failure: BLTError?

    /// The next id, or nil once `maxNewIDs` ids were made, EOS came (when `stopAtEOS`), or the
    /// logits were not finite (`failure`).
    public func next() -> Int32? {
        guard failure == nil, ids.count - promptCount < maxNewIDs else { return nil }
        if stopAtEOS, ids.count > promptCount, ids.last == Tokenizer.eosID { return nil }
        catchUp()
        guard let id = sampler.sample(state.nextLogits[...]) else {
            failure = .nonFiniteLogits(position: ids.count)
            return nil
        }
        ids.append(id)
        return id
    }

    /// Runs the model over ids not yet processed (the last generated one), so that `entropies` and
    /// `patchLengths` cover every id.
    public func catchUp() {
        state.append(ids[state.ids.count...])
    }

    /// Appends `newIDs` (after catching up) and processes them in one batched pass. Returns the
    /// logits rows [newIDs.count + 1, 260] of positions `ids.count − 1 ..< ids.count + newIDs.count`
    /// as they were before the call, i.e. row r predicts new id r (and the last row the id after
    /// them): what a full forward over the longer sequence gives. Scoring continuations this way
    /// on a `fork()` of a prefilled context computes the shared context once.
    public func appendAndReturnLogits(_ newIDs: [Int32]) throws -> [Float] {
        try model.validate(newIDs.isEmpty ? [Tokenizer.bosID] : newIDs)
        try IncrementalState.checkIncremental(model.patching, length: ids.count + newIDs.count)
        catchUp()
        ids += newIDs
        return state.append(newIDs[...], allRows: true)
    }
}

/// The old name of `ByteGenerator` (it shadowed `Sequence.Generator` in conforming types).
@available(*, deprecated, renamed: "ByteGenerator")
public typealias Generator = ByteGenerator

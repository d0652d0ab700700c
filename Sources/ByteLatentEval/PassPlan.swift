import ByteLatent

/// The one pass planner: every way of scoring documents (`Evaluator.run`, `score(documents:)`,
/// `byteScores`, the lm-eval rolling requests) turns its documents into windows and packed forward
/// passes here. A document asked for in two ways, with the same options and neighbours, so runs the
/// same passes and gets the same bits, whatever CPU or product backend rounds them.
struct PassPlanner {
    /// What happens to a document with no bytes: a run skips and counts it; `score(bytes:)` scores
    /// its EOS (when there is one).
    enum EmptyDocuments { case skipped, scored }

    let addEOS: Bool
    let window: Int
    let context: Int
    let emptyDocuments: EmptyDocuments
    /// Keep each target's entropy and patch start (`ByteScores`).
    let keepDetails: Bool
    private var batcher: Batcher

    init(options: EvalOptions, window: Int, emptyDocuments: EmptyDocuments, keepDetails: Bool) {
        addEOS = options.addEOS
        self.window = window
        context = options.context
        self.emptyDocuments = emptyDocuments
        self.keepDetails = keepDetails
        batcher = Batcher(budget: options.batchBytes)
    }

    /// Adds a document's windows; returns the passes they closed, in order.
    mutating func add(_ document: Document) throws -> [Batch] {
        let ids = Tokenizer.encode(document.bytes, addEOS: addEOS)
        if emptyDocuments == .skipped, ids.count < 2 || document.bytes.isEmpty {
            return add(.empty(document.inputRange))
        }
        let work = try DocumentWork(document, ids: ids, window: window, context: context, keepDetails: keepDetails)
        // A document with no target (empty, no EOS) keeps its place in the order.
        if work.plan.isEmpty { return add(.unscored(work)) }
        var closed: [Batch] = []
        for w in work.plan.indices { closed += add(.window(work, w)) }
        return closed
    }

    mutating func add(_ line: BadLine) -> [Batch] { add(.badLine(line)) }

    /// The last, partly filled pass.
    mutating func finish() -> Batch? { batcher.flush() }

    private mutating func add(_ step: Step) -> [Batch] { batcher.add(step).map { [$0] } ?? [] }
}

/// One item of the evaluation stream, in input order.
enum Step {
    /// Window `w` of a document.
    case window(DocumentWork, Int)
    /// A document with no window (nothing to score), reported in its place.
    case unscored(DocumentWork)
    /// An empty document (skipped and counted), with its place in the input.
    case empty(Range<Int>)
    case badLine(BadLine)
}

/// Steps whose windows run in one packed forward pass, with their ids and (when computed ahead)
/// their embeddings.
struct Batch: @unchecked Sendable {
    var steps: [Step] = []
    var sequences: [[Int32]] = []
    var embeddings: [Float]?
    var idCount = 0
    /// See `Batcher`: the unit of work that shards split.
    var group = 0
    /// Position of this pass among all passes of the run (shards included).
    var ordinal = 0

    var windows: [(DocumentWork, Int)] {
        steps.compactMap { if case .window(let work, let w) = $0 { return (work, w) } else { return nil } }
    }
}

/// Gathers steps into batches of at most `budget` window ids (a longer window forms a batch alone).
///
/// Batches are numbered into groups: a new group starts with every batch except one that continues
/// a document from the batch before. Shards own whole groups (`Shard.owns(group)`), so a sharded
/// run computes exactly the passes a whole run computes and merges to its sums bit for bit.
struct Batcher {
    let budget: Int
    var current = Batch()
    private var closedCount = 0

    init(budget: Int) { self.budget = budget }

    /// The group of the batch being filled (and of every step added to it).
    var group: Int { current.group }

    /// Adds `step`; returns the batch it closed, if any.
    mutating func add(_ step: Step) -> Batch? {
        var closed: Batch?
        if case .window(let work, let w) = step {
            let ids = work.windowIDs(w)
            if !current.sequences.isEmpty, current.idCount + ids.count > budget {
                closed = current
                closedCount += 1
                current = Batch()
                current.group = w > 0 ? closed!.group : closed!.group + 1
                current.ordinal = closedCount
            }
            current.sequences.append(ids)
            current.idCount += ids.count
        }
        current.steps.append(step)
        return closed
    }

    /// The last, partly filled batch (the next batch starts a new group).
    mutating func flush() -> Batch? {
        let last = current
        if !last.steps.isEmpty { closedCount += 1 }
        current = Batch()
        current.group = last.group + (last.steps.isEmpty ? 0 : 1)
        current.ordinal = closedCount
        return last.steps.isEmpty ? nil : last
    }
}

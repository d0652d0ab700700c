import ByteLatent

/// A document on its way through the evaluator: its ids, its windows, and what the windows scored
/// so far (only the thread running the model records into it).
final class DocumentWork: @unchecked Sendable {
    let ordinal: Int
    let name: String
    let byteCount: Int
    let inputRange: Range<Int>
    let ids: [Int32]
    let plan: [EvalWindow]
    /// Target NLLs in document order.
    private(set) var values: [Double] = []
    /// Patches starting at a scored id (the BOS patch never counts).
    private(set) var patches = 0
    /// Per target, when kept: the entropy its patch decision compared with the threshold, and
    /// whether a patch starts at it.
    private(set) var entropies: [Float]?
    private(set) var patchStarts: [Bool]?

    init(_ document: Document, ids: [Int32], window: Int, context: Int, keepDetails: Bool) throws {
        ordinal = document.ordinal
        name = document.name
        byteCount = document.bytes.count
        inputRange = document.inputRange
        self.ids = ids
        plan = try WindowPlan.plan(count: ids.count, window: window, context: context)
        let targets = max(0, ids.count - 1)
        values.reserveCapacity(targets)
        if keepDetails {
            entropies = []
            patchStarts = []
            entropies?.reserveCapacity(targets)
            patchStarts?.reserveCapacity(targets)
        }
    }

    func windowIDs(_ w: Int) -> [Int32] { plan[w].ids(from: ids) }

    /// Records window `w` (windows are recorded in order) from its own logits, the entropies its
    /// patches were decided on, and those patches.
    func record(window w: Int, logits: ArraySlice<Float>, ids windowIDs: [Int32], entropies windowEntropies: [Float],
                patchLengths: [Int], width: Int) {
        let window = plan[w]
        precondition(values.count == window.scored.lowerBound - 1, "windows are recorded in order")
        let first = window.position(ofDocumentID: window.scored.lowerBound)
        values += logits.withUnsafeBufferPointer { Scoring.targetNLLs(logits: $0, ids: windowIDs, from: first - 1, width: width) }
        var startsHere = [Bool](repeating: false, count: windowIDs.count)
        var position = 0
        for length in patchLengths {
            if length > 0, position >= 1 { startsHere[position] = true }
            position += length
        }
        // Window positions first ..< count hold the scored targets; the BOS patch never counts.
        patches += startsHere[first...].lazy.filter { $0 }.count
        if entropies != nil {
            entropies! += windowEntropies[(first - 1) ..< (windowIDs.count - 1)]
            patchStarts! += startsHere[first...]
        }
    }

    /// The document as the reader handed it over (its bytes from its ids).
    var document: Document {
        Document(ordinal: ordinal, name: name, bytes: Tokenizer.decodeBytes(ids), inputRange: inputRange)
    }
}

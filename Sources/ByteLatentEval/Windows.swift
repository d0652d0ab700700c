import ByteLatent
/// How a document longer than one forward pass is cut into windows.
///
/// A document's ids are `ids[0] = BOS, ids[1…]` (bytes, then the EOS). Target `t` (1 ≤ t < count)
/// is id `t`, predicted by logits row `t − 1`. A window feeds the model `ids[inputStart ..< inputEnd]`,
/// preceded by a fresh BOS when `inputStart > 0` (so every forward pass starts with a BOS, as the
/// model was trained), and scores the targets `scored`. Each target is scored by exactly one window.
///
/// Policy: the first window starts at the document's BOS and scores every target it holds. Each later
/// window begins `context` ids before its first scored target (that target, and every one after it,
/// sees at least `context` document ids of history besides the BOS) and scores what is left of it.
/// `context == 0` gives non-overlapping windows: every id is fed exactly once.
public struct EvalWindow: Sendable, Equatable, CustomStringConvertible {
    /// Document ids fed to the model (after a fresh BOS when `prependsBOS`).
    public var input: Range<Int>
    /// Targets scored by this window (document id indices; each lies in `input`).
    public var scored: Range<Int>

    public init(input: Range<Int>, scored: Range<Int>) {
        self.input = input
        self.scored = scored
    }

    /// Later windows start mid-document and get a fresh BOS in front.
    public var prependsBOS: Bool { input.lowerBound > 0 }
    /// Ids in the forward pass, BOS included.
    public var length: Int { input.count + (prependsBOS ? 1 : 0) }
    /// Index in the forward pass of document id `t`.
    public func position(ofDocumentID t: Int) -> Int { t - input.lowerBound + (prependsBOS ? 1 : 0) }
    /// The window's ids: a fresh BOS (for later windows) followed by the fed document ids.
    public func ids(from document: [Int32]) -> [Int32] {
        (prependsBOS ? [Tokenizer.bosID] : []) + document[input]
    }
    public var description: String { "feed \(input) score \(scored)" }
}

public enum WindowPlanError: Error, CustomStringConvertible, Equatable {
    case windowTooSmall(window: Int)
    case contextTooLarge(context: Int, window: Int)

    public var description: String {
        switch self {
        case .windowTooSmall(let window):
            return "a window of \(window) id\(window == 1 ? "" : "s") cannot hold a patch: it needs the BOS and at least one byte; the window must be 2 ids or more (EvalOptions.window; the default comes from the model's limits)"
        case .contextTooLarge(let context, let window):
            return "a context of \(context) ids leaves no room to score anything in a window of \(window) ids (BOS + context + at least one byte); the context (EvalOptions.context) must be \(max(0, window - 2)) ids or less, or the window larger"
        }
    }
}

public enum WindowPlan {
    /// The windows covering targets 1 ..< count of a `count`-id document (BOS included), each
    /// window at most `window` ids long including its BOS. Throws if the window cannot score anything.
    public static func plan(count: Int, window: Int, context: Int) throws -> [EvalWindow] {
        guard window >= 2 else { throw WindowPlanError.windowTooSmall(window: window) }
        guard context >= 0, context <= window - 2 else { throw WindowPlanError.contextTooLarge(context: context, window: window) }
        guard count >= 2 else { return [] }
        var windows = [EvalWindow(input: 0 ..< min(count, window), scored: 1 ..< min(count, window))]
        var next = windows[0].scored.upperBound
        while next < count {
            // A later window: a fresh BOS, `context` ids of history, then new targets.
            let start = max(1, next - context)
            let end = min(count, start + window - 1)
            windows.append(EvalWindow(input: start ..< end, scored: next ..< end))
            next = end
        }
        return windows
    }
}

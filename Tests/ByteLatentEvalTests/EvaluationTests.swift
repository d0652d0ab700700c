import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
@testable import ByteLatentEval
import JSONSupport

/// What the evaluation tests share: the reference fixtures, a scratch directory to write documents
/// into, and JSONL lines.
class EvaluationTestCase: ScratchTestCase {
    static func referenceCases(_ directory: String) throws -> [ReferenceCase] { try ReferenceCase.all(directory) }

    static var modelDirectories: [String] { Fixtures.modelDirectories }

    func write(_ name: String, _ text: String) throws -> String {
        let url = scratch.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func jsonl(_ texts: [String]) -> String {
        texts.map { text in
            let data = try! JSONSerialization.data(withJSONObject: ["text": text])
            return String(decoding: data, as: UTF8.self)
        }.joined(separator: "\n") + "\n"
    }

    func firstModel() throws -> BLTModel {
        let directory = try XCTUnwrap(Self.modelDirectories.first, "no reference fixtures")
        return try BLTModel(directory: directory)
    }
}

/// `blt eval`'s library: window plan, evaluator against the reference, exact sums and statistics.
final class EvaluationTests: EvaluationTestCase {
    // MARK: Window plan

    func testWindowPlanScoresEveryTargetExactlyOnce() throws {
        var plans = 0
        for count in 0...70 {
            for window in 2...24 {
                for context in 0...(window - 2) {
                    let plan = try WindowPlan.plan(count: count, window: window, context: context)
                    plans += 1
                    let label = "count \(count) window \(window) context \(context): \(plan)"
                    var seen = [Int](repeating: 0, count: max(count, 1))
                    for (i, w) in plan.enumerated() {
                        XCTAssertLessThanOrEqual(w.length, window, label)
                        XCTAssertFalse(w.scored.isEmpty, label)
                        XCTAssertTrue(w.input.lowerBound <= w.scored.lowerBound && w.scored.upperBound <= w.input.upperBound, label)
                        XCTAssertGreaterThan(w.scored.lowerBound, w.input.lowerBound - (w.prependsBOS ? 1 : 0), "a target needs a predecessor in its window: \(label)")
                        XCTAssertEqual(w.scored.upperBound, w.input.upperBound, label)
                        if i == 0 {
                            XCTAssertEqual(w.input.lowerBound, 0, label)
                        } else {
                            XCTAssertTrue(w.prependsBOS, label)
                            XCTAssertEqual(w.scored.lowerBound, plan[i - 1].scored.upperBound, "windows in order: \(label)")
                            // Each scored target keeps at least `context` document ids of history (or all there is).
                            XCTAssertGreaterThanOrEqual(w.scored.lowerBound - w.input.lowerBound, min(context, w.scored.lowerBound - 1), label)
                        }
                        for t in w.scored { seen[t] += 1 }
                    }
                    if count >= 2 {
                        XCTAssertEqual(Array(seen[1..<count]), Array(repeating: 1, count: count - 1), label)
                    } else {
                        XCTAssertTrue(plan.isEmpty, label)
                    }
                    if count <= window, count >= 2 {
                        XCTAssertEqual(plan, [EvalWindow(input: 0..<count, scored: 1..<count)], "a document that fits is one pass: \(label)")
                    }
                    if context == 0, count >= 2 {
                        // Non-overlapping: every document id fed once.
                        XCTAssertEqual(plan.map(\.input.count).reduce(0, +), count, label)
                    }
                }
            }
        }
        XCTAssertGreaterThan(plans, 10_000)
    }

    func testWindowPlanWindowIDs() throws {
        let ids: [Int32] = Tokenizer.encode(Array("abcdefghij".utf8))   // 12 ids
        let plan = try WindowPlan.plan(count: ids.count, window: 5, context: 2)
        XCTAssertEqual(plan.first?.ids(from: ids), Array(ids[0..<5]))
        let second = plan[1]
        XCTAssertEqual(second, EvalWindow(input: 3..<7, scored: 5..<7))
        XCTAssertEqual(second.ids(from: ids), [Tokenizer.bosID] + Array(ids[3..<7]))
        XCTAssertEqual(second.position(ofDocumentID: 5), 3)
    }

    func testWindowTooSmallOrContextTooLargeIsAnError() {
        XCTAssertThrowsError(try WindowPlan.plan(count: 10, window: 1, context: 0)) {
            XCTAssertEqual($0 as? WindowPlanError, .windowTooSmall(window: 1))
            XCTAssertTrue("\($0)".contains("EvalOptions.window"), "\($0)")
            XCTAssertFalse("\($0)".contains("--"), "a library error names no flag: \($0)")
        }
        XCTAssertThrowsError(try WindowPlan.plan(count: 10, window: 8, context: 7)) {
            XCTAssertEqual($0 as? WindowPlanError, .contextTooLarge(context: 7, window: 8))
        }
    }

    func testEvaluatorRejectsTooSmallWindow() throws {
        let model = try firstModel()
        XCTAssertThrowsError(try Evaluator(model: model, options: EvalOptions(window: 1))) {
            XCTAssertEqual($0 as? WindowPlanError, .windowTooSmall(window: 1))
        }
        XCTAssertEqual(try Evaluator(model: model).window, min(8192, model.config.patcher.maxPositions, model.config.encoder.maxPositions))
    }

    // MARK: Against the reference

    func testSingleWindowMatchesReferenceBitsPerByte() throws {
        var checked = 0
        for directory in Self.modelDirectories {
            let model = try BLTModel(directory: directory)
            let evaluator = try Evaluator(model: model)
            for c in try Self.referenceCases(directory) {
                let label = "\(URL(fileURLWithPath: directory).lastPathComponent)/\(c.name)"
                XCTAssertEqual(Tokenizer.encode(Array(c.text.utf8)), c.ids, label)
                let score = try evaluator.score(bytes: Array(c.text.utf8), name: c.name)
                XCTAssertEqual(score.windows, 1, label)
                XCTAssertEqual(score.targets, c.targets, label)
                XCTAssertEqual(score.bitsPerByte, c.bitsPerByte, accuracy: 1e-5, label)
                XCTAssertEqual(score.nllNats, c.nll, accuracy: 1e-5 * Double(c.targets), label)
                XCTAssertEqual(score.patches, c.patchLengths.filter { $0 > 0 }.count - 1, "patches exclude the BOS patch: \(label)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0)
    }

    func testLongDocumentIsScoredInWindows() throws {
        let directory = try XCTUnwrap(Self.modelDirectories.first)
        let model = try BLTModel(directory: directory)
        let long = try XCTUnwrap(try Self.referenceCases(directory).first { $0.name == "long" })
        let bytes = Array(long.text.utf8)
        let whole = try Evaluator(model: model).score(bytes: bytes)
        let references = try WindowedReference.all(directory).filter { $0.caseName == "long" }
        for (window, context) in [(64, 0), (64, 16), (100, 98), (8, 0), (10, 7), (long.ids.count, 0), (long.ids.count - 1, 0)] {
            // One pass per window, so the sum below is the same arithmetic (PackingTests packs them).
            let evaluator = try Evaluator(model: model, options: EvalOptions(window: window, context: context, batchBytes: 0))
            let score = try evaluator.score(bytes: bytes)
            let plan = try WindowPlan.plan(count: long.ids.count, window: window, context: context)
            let label = "window \(window) context \(context)"
            XCTAssertEqual(score.targets, long.targets, label)
            XCTAssertEqual(score.windows, plan.count, label)
            XCTAssertTrue(score.nllNats.isFinite, label)
            XCTAssertEqual(score.chunks.map(\.targets).reduce(0, +), score.targets, label)
            // The first window scores window - 1 targets, every later one window - 1 - context.
            let perLaterWindow = window - 1 - context
            let windows = 1 + (max(0, long.ids.count - window) + perLaterWindow - 1) / perLaterWindow
            XCTAssertEqual(score.windows, windows, label)
            // Bit for bit: one window is the same single pass as the whole document's.
            if windows == 1 { XCTAssertEqual(score, whole, "a document that fits in one window: \(label)") }
            // The windowed NLL is the sum of each window's own scored rows: bit for bit, since with
            // --batch-bytes 0 each window is the same single pass as model.logits(ids).
            var expected = 0.0
            for w in plan {
                let ids = w.ids(from: long.ids)
                let logits = try model.logits(ids)
                for v in Scoring.targetNLLs(logits: logits, ids: ids, from: w.position(ofDocumentID: w.scored.lowerBound) - 1) { expected += v }
            }
            XCTAssertEqual(score.nllNats, expected, label)
            // And transformers' NLL of the same windows, each run alone (expected.json's `windowed`); a
            // tolerance, since the reference sums in its own order (the parity tests' 1e-5 nats per target).
            if window < long.ids.count - 1 {
                let reference = try XCTUnwrap(references.first { $0.window == window && $0.context == context }, "no reference for \(label)")
                XCTAssertEqual(plan.map(\.input), reference.windows.map(\.input), label)
                XCTAssertEqual(score.nllNats, reference.nll, accuracy: 1e-5 * Double(long.targets), label)
            }
        }
        XCTAssertEqual(whole.bitsPerByte, long.bitsPerByte, accuracy: 1e-5)
    }

    /// Every fixture model, every windowed reference: each window alone against transformers' NLL of
    /// that window, and the evaluator's packed total against the reference's total.
    func testWindowedNLLMatchesTransformersWindowByWindow() throws {
        var checked = 0
        for directory in Self.modelDirectories {
            let name = URL(fileURLWithPath: directory).lastPathComponent
            let references = try WindowedReference.all(directory)
            XCTAssertGreaterThanOrEqual(references.count, 6, "windowed references in \(name)/expected.json")
            let model = try BLTModel(directory: directory)
            let cases = try Self.referenceCases(directory)
            for reference in references {
                let c = try XCTUnwrap(cases.first { $0.name == reference.caseName })
                let label = "\(name)/\(c.name) window \(reference.window) context \(reference.context)"
                let plan = try WindowPlan.plan(count: c.ids.count, window: reference.window, context: reference.context)
                XCTAssertEqual(plan.map(\.input), reference.windows.map(\.input), label)
                XCTAssertEqual(plan.map(\.scored), reference.windows.map(\.scored), label)
                // A target's NLL moves by at most twice the largest logit difference (2e-4, the parity
                // tests' bound): a window of one or two targets gets no averaging. Whole documents below
                // keep the parity tests' 1e-5 nats per target.
                for (w, expected) in zip(plan, reference.windows) {
                    let ids = w.ids(from: c.ids)
                    let nll = Scoring.targetNLLs(logits: try model.logits(ids), ids: ids, from: w.position(ofDocumentID: w.scored.lowerBound) - 1)
                    XCTAssertEqual(nll.reduce(0, +), expected.nll, accuracy: 4e-4 * Double(w.scored.count), "\(label) \(w)")
                }
                let evaluator = try Evaluator(model: model, options: EvalOptions(window: reference.window, context: reference.context))
                let score = try evaluator.score(bytes: Array(c.text.utf8))
                XCTAssertEqual(score.windows, reference.windows.count, label)
                XCTAssertEqual(score.nllNats, reference.nll, accuracy: 1e-5 * Double(c.targets), label)
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 6 * Self.modelDirectories.count)
    }

    // MARK: Sums and statistics

    func testExactSumsAreOrderIndependentAndRoundTrip() throws {
        let values = (0..<1000).map { sin(Double($0)) * 1e6 + 1 / Double($0 + 1) }
        var forward = ExactSum(), backward = ExactSum()
        for v in values { forward += ExactSum(v)! }
        for v in values.reversed() { backward += ExactSum(v)! }
        XCTAssertEqual(forward, backward)
        XCTAssertEqual(forward.value, values.reduce(0, +), accuracy: 1e-6)
        let text = JSONValue.array([forward.json]).serialized(.report)
        guard case .array(let items) = try JSONValue.parse(Array(text.utf8), options: .report), items.count == 1 else { return XCTFail(text) }
        XCTAssertEqual(try ExactSum(json: items[0], at: SummaryReader.Path()), forward)
        XCTAssertNil(ExactSum(.nan))
        XCTAssertNil(ExactSum(.infinity))
        XCTAssertEqual(ExactSum(integer: 12).value, 12)
    }

    func testStandardErrorIsTheRatioEstimate() throws {
        let units: [(Double, Int)] = [(100, 50), (300, 120), (80, 60), (500, 200), (10, 9)]
        var moments = RatioMoments()
        for (y, n) in units { XCTAssertTrue(moments.add(bits: y, targets: n)) }
        let r = units.map(\.0).reduce(0, +) / Double(units.map(\.1).reduce(0, +))
        let residuals = units.map { ($0.0 - r * Double($0.1)) * ($0.0 - r * Double($0.1)) }.reduce(0, +)
        let n = Double(units.map(\.1).reduce(0, +))
        let expected = (5.0 / 4.0 * residuals).squareRoot() / n
        XCTAssertEqual(try XCTUnwrap(moments.standardError), expected, accuracy: 1e-12)
        // Equal-size units: the usual standard error of the mean of the per-unit rates.
        var equal = RatioMoments()
        let rates = [1.0, 2.0, 4.0, 3.0]
        for rate in rates { _ = equal.add(bits: rate * 10, targets: 10) }
        let mean = rates.reduce(0, +) / 4
        let sd = (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3).squareRoot()
        XCTAssertEqual(try XCTUnwrap(equal.standardError), sd / 2, accuracy: 1e-12)
        var single = RatioMoments()
        _ = single.add(bits: 5, targets: 5)
        XCTAssertNil(single.standardError)
    }

    func testSingleDocumentStandardErrorUsesChunks() throws {
        let directory = try XCTUnwrap(Self.modelDirectories.first)
        let long = try XCTUnwrap(try Self.referenceCases(directory).first { $0.name == "long" })
        let path = try write("long.txt", long.text)
        let evaluator = try Evaluator(model: try BLTModel(directory: directory), options: EvalOptions(chunkTargets: 50))
        let summary = try evaluator.run(DocumentReader(inputs: [DocumentInput(path: path)]))
        XCTAssertEqual(summary.sums.byChunk.units, 5)   // 249 targets in chunks of 50
        XCTAssertEqual(summary.standardErrorMethod, "chunks of 50 targets")
        XCTAssertNotNil(summary.bitsPerByteStandardError)
        XCTAssertEqual(summary.bitsPerByte, long.bitsPerByte, accuracy: 1e-5)
    }

    func testSummaryJSONHasTheDocumentedFields() throws {
        let model = try firstModel()
        let path = try write("two.jsonl", jsonl(["hello there", "general kenobi"]))
        let summary = try Evaluator(model: model, options: EvalOptions(keepPerDocument: true)).run(DocumentReader(inputs: [DocumentInput(path: path)]))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: try summary.jsonData()) as? [String: Any])
        for key in ["bits_per_byte", "bits_per_byte_stderr", "nll_nats", "targets", "documents", "bytes", "patches", "mean_patch_bytes",
                    "seconds", "bytes_per_second", "perplexity_per_byte", "skipped_empty", "skipped_bad_lines", "sums", "settings", "per_document"] {
            XCTAssertNotNil(object[key], key)
        }
        XCTAssertEqual(try EvalSummary.decode(try summary.jsonData()), summary)
    }
}

import XCTest
import ByteLatent
@testable import ByteLatentEval
import Safetensors

/// Library errors speak the library's words: what a caller sets (`EvalOptions.window`, …), never a
/// flag of the `blt` command line, which says them again with its flags (`FlagWording`; the CLI
/// tests check that side).
final class LibraryErrorWordingTests: XCTestCase {
    func assertNoFlag(_ error: Error, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = "\(error)"
        XCTAssertFalse(text.contains("--"), "names a command-line flag: \(text)", file: file, line: line)
        XCTAssertTrue(text.contains(mentions), "does not mention '\(mentions)': \(text)", file: file, line: line)
    }

    func testEvaluationErrorsNameNoFlag() {
        assertNoFlag(WindowPlanError.windowTooSmall(window: 1), mentions: "EvalOptions.window")
        assertNoFlag(WindowPlanError.contextTooLarge(context: 9, window: 10), mentions: "EvalOptions.context")
        assertNoFlag(EvalError.windowTooLarge(window: 9000, positions: 4096), mentions: "4096 ids or less")
        assertNoFlag(DocumentError.malformedLine(file: "a.jsonl", line: 3, reason: "not a JSON object"), mentions: "skipBadLines")
        assertNoFlag(DocumentError.badShard("3/3"), mentions: "'3/3' is not I/N")
        assertNoFlag(EvalSummary.MergeError.nothingToMerge, mentions: "no evaluation outputs")
        assertNoFlag(EvalSummary.MergeError.missingShards([1], count: 4), mentions: "allowPartial")
        assertNoFlag(EvalSummary.MergeError.missingShardsOf(first: [1, 2], total: 9, count: 40), mentions: "allowPartial")
        assertNoFlag(EvalSummary.LoadError(source: "s.json", reason: "no field 'sums'"), mentions: "s.json")
        XCTAssertEqual(DocumentReader.missingFieldReason("body"), "no field 'body'")
    }

    func testEngineAndSafetensorsErrorsNameNoFlag() {
        assertNoFlag(BLTError.checkpoint(.fileTooSmall(path: "m.safetensors", size: 5), context: "cannot open the weights in 'M'"),
                     mentions: "m.safetensors")
        assertNoFlag(BLTError.nonFiniteLogits(position: 3), mentions: "after 3 ids")
        assertNoFlag(SafetensorsError.noCheckpointInDirectory(path: "M"), mentions: "M")
    }

    /// A JSONL line without the field gives the reason the command line recognises.
    func testMissingFieldReason() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wording-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("d.jsonl").path
        try Data("{\"body\": \"x\"}\n".utf8).write(to: URL(fileURLWithPath: path))
        var lines: [BadLine] = []
        try DocumentReader(inputs: [DocumentInput(path: path)], skipBadLines: true).forEach { event in
            if case .badLine(let line) = event { lines.append(line) }
        }
        XCTAssertEqual(lines.map(\.reason), [DocumentReader.missingFieldReason("text")])
    }
}

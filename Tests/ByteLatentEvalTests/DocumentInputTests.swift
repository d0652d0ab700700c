import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
@testable import ByteLatentEval
import JSONSupport

/// `blt eval`'s documents: JSONL and plain files, empty and malformed documents, missing inputs,
/// and shards that merge to exactly the unsharded sums.
final class DocumentInputTests: EvaluationTestCase {
    // MARK: Documents, JSONL, shards

    func testJSONLGivesTheTargetWeightedCombination() throws {
        for directory in Self.modelDirectories {
            let cases = try Self.referenceCases(directory)
            let path = try write("docs-\(URL(fileURLWithPath: directory).lastPathComponent).jsonl",
                                 jsonl([cases[0].text, ""] + cases.dropFirst().map(\.text)) + "\n   \n")
            let evaluator = try Evaluator(model: try BLTModel(directory: directory), options: EvalOptions(keepPerDocument: true))
            let summary = try evaluator.run(DocumentReader(inputs: [DocumentInput(path: path)]))
            let label = URL(fileURLWithPath: directory).lastPathComponent
            XCTAssertEqual(summary.sums.documents, cases.count, label)
            XCTAssertEqual(summary.sums.skippedEmpty, 1, label)
            XCTAssertEqual(summary.sums.targets, cases.map(\.targets).reduce(0, +), label)
            XCTAssertEqual(summary.sums.bytes, cases.map { $0.text.utf8.count }.reduce(0, +), label)
            let combined = cases.map(\.nll).reduce(0, +) / M_LN2 / Double(summary.sums.targets)
            XCTAssertEqual(summary.bitsPerByte, combined, accuracy: 1e-5, label)
            let documents = try XCTUnwrap(summary.perDocument)
            XCTAssertEqual(documents.map(\.name), [1, 3, 4, 5, 6].map { "\(path):\($0)" }, label)
            XCTAssertEqual(documents.map(\.index), [0, 2, 3, 4, 5], "the empty document keeps its number: \(label)")
            for (d, c) in zip(documents, cases) { XCTAssertEqual(d.bitsPerByte, c.bitsPerByte, accuracy: 1e-5, label) }
            // The total is exactly the target-weighted combination of the documents' own figures.
            let weighted = documents.map { $0.bitsPerByte * Double($0.targets) }.reduce(0, +) / Double(summary.sums.targets)
            XCTAssertEqual(summary.bitsPerByte, weighted, accuracy: 1e-12, label)
            XCTAssertNotNil(summary.bitsPerByteStandardError, label)
            XCTAssertEqual(summary.standardErrorMethod, "documents")
        }
    }

    func testShardsMergeToExactlyTheUnshardedSums() throws {
        let directory = try XCTUnwrap(Self.modelDirectories.first)
        let cases = try Self.referenceCases(directory)
        let texts = (cases + cases).map(\.text) + ["", "x", String(repeating: "ab", count: 40)]
        let file = try write("plain.txt", "a plain document\nwith two lines\n")
        let lines = try write("many.jsonl", jsonl(texts))
        // One pass per window here; packed shards merge bit for bit too (PackingTests).
        let evaluator = try Evaluator(model: try BLTModel(directory: directory),
                                      options: EvalOptions(window: 40, context: 8, keepPerDocument: true, batchBytes: 0))
        let inputs = [DocumentInput(path: lines), DocumentInput(path: file)]
        let whole = try evaluator.run(DocumentReader(inputs: inputs))
        var parts: [EvalSummary] = []
        for i in [2, 0, 1] {
            let part = try evaluator.run(DocumentReader(inputs: inputs), shard: Shard(index: i, count: 3))
            XCTAssertFalse(part.isComplete)
            parts.append(try EvalSummary.decode(try part.jsonData()))   // through JSON, as eval-merge reads them
        }
        let merged = try EvalSummary.merge(parts)
        var a = merged.sums, b = whole.sums
        a.seconds = 0; b.seconds = 0
        XCTAssertEqual(a, b, "integer counts and exact sums are equal bit for bit")
        XCTAssertEqual(merged.nllNats, whole.nllNats)
        XCTAssertEqual(merged.bitsPerByte, whole.bitsPerByte)
        XCTAssertEqual(merged.bitsPerByteStandardError, whole.bitsPerByteStandardError)
        XCTAssertEqual(merged.perDocument, whole.perDocument)
        XCTAssertEqual(merged.shards, [0, 1, 2])
        XCTAssertTrue(merged.isComplete)
        XCTAssertEqual(whole.sums.documents, texts.count)   // every text + the plain file, less the empty one
        XCTAssertEqual(whole.sums.skippedEmpty, 1)

        XCTAssertThrowsError(try EvalSummary.merge([parts[0], parts[1]])) {
            XCTAssertEqual($0 as? EvalSummary.MergeError, .missingShards([1], count: 3))
        }
        XCTAssertNoThrow(try EvalSummary.merge([parts[0], parts[1]], allowPartial: true))
        XCTAssertThrowsError(try EvalSummary.merge([parts[0], parts[0], parts[1], parts[2]])) {
            XCTAssertEqual($0 as? EvalSummary.MergeError, .duplicateShard(2, file: "input 2"))
        }
        var other = parts[1]
        other.settings.window = 41
        XCTAssertThrowsError(try EvalSummary.merge([parts[0], other, parts[2]], names: ["a.json", "b.json", "c.json"])) {
            XCTAssertTrue("\($0)".contains("b.json") && "\($0)".contains("window"), "\($0)")
        }
    }

    /// Text that is not Unicode — invalid UTF-8 inside a string, a lone surrogate escape — is a bad
    /// line with its number (and a bad `serve` request), never U+FFFD scored as if it were text.
    func testJSONTextThatIsNotUnicodeIsABadLine() throws {
        var bytes = Array("{\"text\": \"fine\"}\n{\"text\": \"caf".utf8) + [0xFF] + Array(" latte\"}\n".utf8)
        bytes += Array("{\"text\": \"\\ud800 alone\"}\n{\"text\": \"pair \\ud83d\\ude00\"}\n".utf8)
        let path = scratch.appendingPathComponent("unicode.jsonl").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var skipped: [BadLine] = []
        var texts: [[UInt8]] = []
        try DocumentReader(inputs: [DocumentInput(path: path)], skipBadLines: true).forEach { event in
            switch event {
            case .document(let document): texts.append(document.bytes)
            case .badLine(let line): skipped.append(line)
            }
        }
        XCTAssertEqual(texts, [Array("fine".utf8), Array("pair 😀".utf8)])
        XCTAssertEqual(skipped.map(\.line), [2, 3])
        XCTAssertEqual(skipped.first?.reason, "not valid UTF-8")
        XCTAssertTrue(skipped.last?.reason.contains("surrogate") ?? false, "\(skipped)")
        for line in [Array("{\"type\": \"loglikelihood_rolling\", \"text\": \"\\udfff\"}".utf8),
                     Array("{\"type\": \"loglikelihood_rolling\", \"text\": \"".utf8) + [0xC3] + Array("\"}".utf8)] {
            guard case .failure(let error) = ServeProtocol.parse(line).request else { XCTFail("accepted: \(line)"); continue }
            XCTAssertTrue("\(error)".contains("surrogate") || "\(error)".contains("UTF-8"), "\(error)")
        }
        // An id JSON cannot hold is refused, not echoed as Infinity: every response line is JSON.
        for id in ["1e400", "-1e400", "NaN"] {
            let line = ServeProtocol.parse(Array("{\"id\": \(id), \"type\": \"loglikelihood_rolling\", \"text\": \"x\"}".utf8))
            XCTAssertNil(line.id, id)
            let response = ServeProtocol.response(line.request.map { _ in .generateUntil(bytes: []) }, id: line.id)
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(response.utf8)), response)
            XCTAssertTrue(response.contains("finite"), response)
        }
    }

    func testMalformedJSONLLineNamesFileAndLine() throws {
        let model = try firstModel()
        let path = try write("bad.jsonl", "{\"text\": \"fine\"}\n\n{\"text\": \"also fine\"}\n{\"text\": oops}\n{\"body\": \"x\"}\n{\"text\": 3}\n[1]\n")
        let evaluator = try Evaluator(model: model)
        XCTAssertThrowsError(try evaluator.run(DocumentReader(inputs: [DocumentInput(path: path)]))) {
            XCTAssertEqual($0 as? DocumentError, .malformedLine(file: path, line: 4, reason: "not valid JSON at byte 10 of the line: unexpected character"))
            XCTAssertTrue("\($0)".contains("\(path):4"), "\($0)")
            XCTAssertTrue("\($0)".contains("skipBadLines"), "\($0)")
            XCTAssertFalse("\($0)".contains("--"), "a library error names no flag: \($0)")
        }
        var skipped: [BadLine] = []
        let summary = try evaluator.run(DocumentReader(inputs: [DocumentInput(path: path)], skipBadLines: true), badLine: { skipped.append($0) })
        XCTAssertEqual(summary.sums.documents, 2)
        XCTAssertEqual(summary.sums.skippedBadLines, 4)
        XCTAssertEqual(skipped.map(\.line), [4, 5, 6, 7])
        XCTAssertTrue(skipped[1].reason.contains("no field 'text'"), skipped[1].reason)
        XCTAssertTrue(skipped[2].reason.contains("a number"), skipped[2].reason)
        // --field picks another field.
        let other = try evaluator.run(DocumentReader(inputs: [DocumentInput(path: path)], field: "body", skipBadLines: true))
        XCTAssertEqual(other.sums.documents, 1)
        XCTAssertEqual(other.sums.bytes, 1)
    }

    func testEmptyDocumentsAreSkippedAndCounted() throws {
        let model = try firstModel()
        let empty = try write("empty.txt", "")
        let lines = try write("empties.jsonl", jsonl(["", "", "abc"]))
        let summary = try Evaluator(model: model).run(DocumentReader(inputs: [DocumentInput(path: empty), DocumentInput(path: lines)]))
        XCTAssertEqual(summary.sums.documents, 1)
        XCTAssertEqual(summary.sums.skippedEmpty, 3)
        XCTAssertEqual(summary.sums.bytes, 3)
        XCTAssertEqual(summary.sums.targets, 4)
        let none = try Evaluator(model: model).run(DocumentReader(inputs: [DocumentInput(path: empty)]))
        XCTAssertEqual(none.sums.documents, 0)
        XCTAssertTrue(none.bitsPerByte.isNaN)
        XCTAssertNoThrow(try none.jsonData())
    }

    func testPlainFilesTakeAnyBytesAndNoEOS() throws {
        let model = try firstModel()
        let url = scratch.appendingPathComponent("binary.bin")
        let bytes: [UInt8] = [0xFF, 0xFE, 0x00, 0x80, 0xC3, 0x28, 0x0A, 0x41]   // not UTF-8
        try Data(bytes).write(to: url)
        let evaluator = try Evaluator(model: model, options: EvalOptions(addEOS: false))
        let summary = try evaluator.run(DocumentReader(inputs: [DocumentInput(path: url.path)]))
        XCTAssertEqual(summary.sums.bytes, 8)
        XCTAssertEqual(summary.sums.targets, 8)
        let direct = try evaluator.score(bytes: bytes)
        XCTAssertEqual(summary.nllNats, ExactSum(direct.nllNats)!.value)
        let ids = Tokenizer.encode(bytes, addEOS: false)
        XCTAssertEqual(direct.nllNats, Scoring.score(logits: try model.logits(ids), ids: ids).nllNats)
    }

    func testMissingInputsAndBadShardsAreNamed() throws {
        let missing = scratch.appendingPathComponent("nope.jsonl").path
        XCTAssertThrowsError(try DocumentReader(inputs: [DocumentInput(path: missing)]).checkInputs()) {
            XCTAssertEqual($0 as? DocumentError, .fileNotFound(missing))
            XCTAssertTrue("\($0)".contains(missing))
        }
        XCTAssertThrowsError(try DocumentReader(inputs: [DocumentInput(path: scratch.path)]).checkInputs()) {
            XCTAssertEqual($0 as? DocumentError, .isDirectory(scratch.path))
        }
        for text in ["3/3", "1", "-1/2", "a/b", "0/0", "1/2/3"] {
            XCTAssertThrowsError(try Shard(parsing: text), text)
        }
        XCTAssertEqual(try Shard(parsing: "2/5"), Shard(index: 2, count: 5))
    }

    func testNotABLTModelDirectoryIsAnError() throws {
        let directory = scratch.appendingPathComponent("llama")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(#"{"model_type": "llama"}"#.utf8).write(to: directory.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try BLTModel(directory: directory.path)) {
            XCTAssertEqual($0 as? BLTError, .unsupportedModelType("llama"))
        }
        XCTAssertThrowsError(try BLTModel(directory: scratch.appendingPathComponent("none").path))
    }
}

import Foundation
import XCTest
import TestSupport
import ByteLatent
@testable import ByteLatentEval

/// Hostile input to evaluation: numbers that overflow, shard outputs that lie (issue 12). Each
/// case must end in an error that names the problem.
final class HostileEvalInputTests: ScratchTestCase {


    func tinyConfig() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/tiny-b/config.json")))) as! [String: Any]
    }

    // MARK: Numbers from the caller

    func testShardCountIsBounded() {
        // Was: a segfault (an array with one slot per shard).
        XCTAssertThrowsError(try Shard(parsing: "0/9223372036854775807")) { XCTAssertEqual($0 as? DocumentError, .badShard("0/9223372036854775807")) }
        XCTAssertNoThrow(try Shard(parsing: "5/1000000"))
    }

    func testEvaluatorRefusesWindowBeyondPositionsAndNonFiniteThresholds() throws {
        let model = try BLTModel(directory: Fixtures.path("models/tiny-b"))
        let positions = min(model.config.patcher.maxPositions, model.config.encoder.maxPositions, model.config.decoder.maxPositions)
        XCTAssertThrowsError(try Evaluator(model: model, options: EvalOptions(window: positions + 1))) {
            XCTAssertTrue("\($0)".contains("exceeds the model's \(positions) positions"), "\($0)")
        }
        for threshold in [Float.nan, .infinity] {
            XCTAssertThrowsError(try Evaluator(model: model, options: EvalOptions(threshold: threshold)))
        }
    }

    // MARK: eval-merge inputs

    /// A real shard output of tiny-b over three documents (shard `index` of 2), as JSON.
    func shardJSON(_ index: Int, model: String? = nil) throws -> [String: Any] {
        let modelDirectory = model ?? Fixtures.path("models/tiny-b")
        let docs = scratch.appendingPathComponent("docs.jsonl")
        try Data("{\"text\": \"Names refer to objects.\"}\n{\"text\": \"A scope.\"}\n{\"text\": \"x\"}\n".utf8).write(to: docs)
        let evaluator = try Evaluator(model: try BLTModel(directory: modelDirectory), options: EvalOptions(keepPerDocument: true, batchBytes: 0))
        let summary = try evaluator.run(DocumentReader(inputs: [DocumentInput(path: docs.path)]), shard: Shard(index: index, count: 2))
        return try JSONSerialization.jsonObject(with: summary.jsonData()) as! [String: Any]
    }

    func load(_ object: [String: Any]) throws -> EvalSummary {
        try EvalSummary.load(JSONSerialization.data(withJSONObject: object), source: "shard.json")
    }

    func loadReason(_ edit: (inout [String: Any]) -> Void) throws -> String {
        var object = try shardJSON(0)
        edit(&object)
        do { _ = try load(object); return "no error" } catch let error as EvalSummary.LoadError { return error.reason }
    }

    func editSums(_ object: inout [String: Any], _ key: String, _ value: Any) {
        var sums = object["sums"] as! [String: Any]
        sums[key] = value
        object["sums"] = sums
    }

    func testUneditedShardsLoadAndMerge() throws {
        let parts = try [load(shardJSON(0)), load(shardJSON(1))]
        let merged = try EvalSummary.merge(parts)
        XCTAssertTrue(merged.isComplete)
        XCTAssertEqual(merged.sums.documents, 3)
        XCTAssertNotNil(merged.settings.modelFingerprint)
    }

    func testTamperedShardFieldsAreRefused() throws {
        XCTAssertEqual(try loadReason { _ in }, "no error")
        // Negative NLL, zero/negative targets, Int.max documents (was printed as "documents -9,223,…").
        XCTAssertTrue(try loadReason { self.editSums(&$0, "nll_nats", "-1000") }.contains("nll_nats"))
        XCTAssertTrue(try loadReason { self.editSums(&$0, "targets", 0) }.contains("targets"))
        XCTAssertTrue(try loadReason { self.editSums(&$0, "targets", -5) }.contains("targets"))
        XCTAssertTrue(try loadReason { self.editSums(&$0, "documents", Int.max) }.contains("documents"))
        // Shard indexes outside 0..<count ("shards 0,5 of 2").
        XCTAssertTrue(try loadReason { $0["shards"] = [5] }.contains("shard 5 is out of range"))
        XCTAssertTrue(try loadReason { $0["shards"] = [0, 0] }.contains("twice"))
        XCTAssertTrue(try loadReason { $0["shard_count"] = 4_611_686_018_427_387_904 }.contains("shard_count"))
        XCTAssertTrue(try loadReason { $0["format"] = "other" }.contains("format"))
        XCTAssertTrue(try loadReason { $0.removeValue(forKey: "sums") }.contains("sums"))
    }

    func testHugeShardCountIsMergedInBoundedTimeWithAShortMessage() throws {
        // Was: over a minute and a 40 MB error for shard_count 10000000.
        var object = try shardJSON(0)
        object["shard_count"] = 1_000_000
        object.removeValue(forKey: "per_document")   // its indexes were assigned for 2 shards
        let part = try load(object)
        let started = Date()
        XCTAssertThrowsError(try EvalSummary.merge([part])) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("999999 of 1000000 shards are missing"), message)
            XCTAssertLessThan(message.count, 300)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertFalse(try EvalSummary.merge([part], allowPartial: true).isComplete)
    }

    func testShardsOfDifferentModelsWithTheSameDirectoryNameAreRefused() throws {
        // Two models in directories both named "tiny-b": the fingerprint tells them apart.
        let other = scratch.appendingPathComponent("elsewhere/tiny-b")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        var config = try tinyConfig()
        config["patching_threshold"] = 1.25
        try JSONSerialization.data(withJSONObject: config).write(to: other.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-b/model.safetensors"), toPath: other.appendingPathComponent("model.safetensors").path)
        var a = try load(shardJSON(0))
        var b = try load(shardJSON(1, model: other.path))
        XCTAssertEqual(a.settings.model, b.settings.model)
        b.settings.threshold = a.settings.threshold   // same settings otherwise
        XCTAssertThrowsError(try EvalSummary.merge([a, b])) {
            guard case EvalSummary.MergeError.modelsDiffer = $0 else { return XCTFail("\($0)") }
        }
        // A renamed copy of the same model merges.
        a.settings.model = "renamed"
        let same = try load(shardJSON(1))
        XCTAssertNoThrow(try EvalSummary.merge([a, same]))
    }

    func testMergeAdditionIsOverflowChecked() {
        var a = EvalSums()
        a.documents = Int.max
        var b = EvalSums()
        b.documents = 1
        XCTAssertFalse(a.mergeChecked(b))
        XCTAssertEqual(a.documents, Int.max)
    }

    // MARK: Fuzz findings

    /// FuzzJSONL, LeakSanitizer: Foundation's mapped read of an empty file leaked a buffer per call;
    /// empty files are now read without it. (The leak itself shows only under LeakSanitizer; this
    /// checks the empty-file path behaves: no documents from an empty .jsonl, one empty text document.)
    func testFuzzFoundEmptyFilesReadAsNoBytes() throws {
        let jsonl = scratch.appendingPathComponent("empty.jsonl"), text = scratch.appendingPathComponent("empty.txt")
        try Data().write(to: jsonl)
        try Data().write(to: text)
        var events: [String] = []
        try DocumentReader(inputs: [DocumentInput(path: jsonl.path), DocumentInput(path: text.path)]).forEach { event in
            if case .document(let document) = event { events.append("\(document.name):\(document.bytes.count)") }
        }
        XCTAssertEqual(events, ["\(text.path):0"])
    }

    // MARK: Fingerprint

    func testSHA256KnownVectors() {
        var h = SHA256()
        h.update(Data("abc".utf8))
        XCTAssertEqual(h.finalize().map { String(format: "%02x", $0) }.joined(),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var long = SHA256()
        long.update(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
        XCTAssertEqual(long.finalize().map { String(format: "%02x", $0) }.joined(),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testFingerprintFollowsContentNotName() throws {
        let copy = scratch.appendingPathComponent("copy")
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-b"), toPath: copy.path)
        let original = try XCTUnwrap(ModelFingerprint.of(directory: Fixtures.path("models/tiny-b")))
        XCTAssertEqual(ModelFingerprint.of(directory: copy.path), original)
        XCTAssertNotEqual(ModelFingerprint.of(directory: Fixtures.path("models/tiny-a")), original)
        try Data("{}".utf8).write(to: copy.appendingPathComponent("config.json"))
        XCTAssertNotEqual(ModelFingerprint.of(directory: copy.path), original)
    }
}

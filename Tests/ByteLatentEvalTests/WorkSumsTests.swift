import Foundation
import XCTest
import TestSupport
import ByteLatent
import ByteLatentEval
import JSONSupport

/// The FLOPs and weight bytes an evaluation records in its sums: shards merge to the whole run's,
/// and outputs of older versions (without them) still load and merge, to a summary without them.
final class WorkSumsTests: ScratchTestCase {


    func testShardsMergeToTheWholeRunsWorkAndOlderOutputsMergeWithout() throws {
        let url = scratch.appendingPathComponent("two.jsonl")
        try Data((#"{"text": "hello there"}"# + "\n" + #"{"text": "general kenobi"}"#).utf8).write(to: url)
        let evaluator = try Evaluator(model: try BLTModel(directory: Fixtures.modelDirectory("tiny-a")), options: EvalOptions(batchBytes: 0))
        let reader = DocumentReader(inputs: [DocumentInput(path: url.path)])
        let whole = try evaluator.run(reader)
        // Two passes (one per document, batch_bytes 0) of 13 and 16 ids: tiny-a's matrices twice
        // (2 · 192,512 bytes of f32) and 320 bytes of rows per id (WorkCountTests).
        XCTAssertEqual(whole.sums.weightBytesRead, Double(2 * 192_512 + 320 * (13 + 16)))
        let parts = try (0..<2).map { try evaluator.run(reader, shard: Shard(index: $0, count: 2)) }
        let merged = try EvalSummary.merge(parts)
        XCTAssertEqual(merged.sums.flops, whole.sums.flops)
        XCTAssertEqual(merged.sums.weightBytesRead, whole.sums.weightBytesRead)

        // An older output: no flops or weight_bytes_read in its sums.
        var json = try JSONValue.parse(try parts[1].jsonData())
        guard case .object(var top) = json, let i = top.firstIndex(where: { $0.0 == "sums" }), case .object(let sums) = top[i].1 else {
            return XCTFail("no sums object")
        }
        top[i].1 = .object(sums.filter { $0.0 != "flops" && $0.0 != "weight_bytes_read" })
        json = .object(top)
        let older = try EvalSummary.load(Data(json.serialized(.report).utf8), source: "older.json")
        XCTAssertNil(older.sums.flops)
        XCTAssertNil(older.flopsPerSecond)
        let mixed = try EvalSummary.merge([parts[0], older])
        XCTAssertNil(mixed.sums.flops)
        XCTAssertNil(mixed.sums.weightBytesRead)
        let written = try JSONValue.parse(try mixed.jsonData())
        XCTAssertNil(written["gflops_per_second"])
        XCTAssertNil(written["weight_bytes_read"])
        XCTAssertEqual(mixed.sums.targets, whole.sums.targets)
    }
}

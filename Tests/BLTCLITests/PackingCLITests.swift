import Foundation
import XCTest
import TestSupport

/// `blt eval --batch-bytes` end to end (fails when the executable is not built).
final class PackingCLITests: XCTestCase {
    func blt(_ arguments: [String]) throws -> BLTRun { try runBLT(arguments) }

    func testBatchBytesKeepsPerDocumentResults() throws {
        let model = try XCTUnwrap(Fixtures.modelDirectories.last)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("blt-packing-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let lines = try ReferenceCase.packingDocuments(model).map {
            String(decoding: try JSONSerialization.data(withJSONObject: ["text": String(decoding: $0, as: UTF8.self)]), as: UTF8.self)
        }
        let path = scratch.appendingPathComponent("docs.jsonl").path
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))

        func perDocument(_ extra: [String]) throws -> [[String: Any]] {
            let run = try blt(["eval", "--model", model, "--json", "--per-document", "--window", "64"] + extra + [path])
            XCTAssertEqual(run.status, 0, run.stderr)
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any])
            return try XCTUnwrap(json["per_document"] as? [[String: Any]])
        }
        let single = try perDocument(["--batch-bytes", "0"])
        let packed = try perDocument([])   // the default budget: everything here fits in one or two passes
        XCTAssertEqual(packed.count, single.count)
        XCTAssertEqual(packed.compactMap { $0["index"] as? Int }, single.compactMap { $0["index"] as? Int })
        for (a, b) in zip(packed, single) {
            XCTAssertEqual(a["targets"] as? Int, b["targets"] as? Int)
            XCTAssertEqual(a["patches"] as? Int, b["patches"] as? Int)
            let x = try XCTUnwrap(a["nll_nats"] as? Double), y = try XCTUnwrap(b["nll_nats"] as? Double)
            XCTAssertLessThanOrEqual(abs(x - y), 1e-6 * max(abs(x), abs(y)), "\(a["name"] ?? "?")")
        }

        let negative = try blt(["eval", "--model", model, "--batch-bytes", "-5", path])
        XCTAssertNotEqual(negative.status, 0)
        XCTAssertTrue(negative.stderr.contains("--batch-bytes"), negative.stderr)
        XCTAssertEqual(negative.stdout.count, 0)
        let help = try blt(["eval", "--help"])
        XCTAssertTrue(String(decoding: help.stdout, as: UTF8.self).contains("--batch-bytes"))
    }
}

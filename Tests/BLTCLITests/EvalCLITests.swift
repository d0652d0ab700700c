import Foundation
import XCTest
import TestSupport
@testable import ByteLatent

/// Runs the built `blt` executable end to end: exit codes, messages, JSON that parses, stdin, and
/// shards merged with `blt eval-merge`. Fails when the executable has not been built
/// (`swift build` builds it; `swift test` does too).
final class EvalCLITests: ScratchTestCase {


    typealias Run = BLTRun

    func blt(_ arguments: [String], stdin: Data? = nil) throws -> Run { try runBLT(arguments, stdin: stdin) }

    func object(_ data: Data) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A run's JSON sums without `seconds`, the one figure that differs between equal runs.
    func sums(_ run: Run) throws -> NSDictionary {
        var sums = try XCTUnwrap(try object(run.stdout)["sums"] as? [String: Any])
        sums["seconds"] = nil
        return NSDictionary(dictionary: sums)
    }

    func testEvalEndToEnd() throws {
        let model = try XCTUnwrap(Fixtures.modelDirectories.first)
        let cases = try ReferenceCase.all(model)
        let prose = try XCTUnwrap(cases.first { $0.name == "prose" })
        let text = scratch.appendingPathComponent("prose.txt")
        try Data(prose.text.utf8).write(to: text)

        // One document, --json: the reference's bits per byte.
        let single = try blt(["eval", "--model", model, "--json", text.path])
        XCTAssertEqual(single.status, 0, single.stderr)
        XCTAssertEqual(single.stderr, "", "no progress bar when stderr is not a terminal")
        let json = try object(single.stdout)
        XCTAssertEqual(try XCTUnwrap(json["bits_per_byte"] as? Double), prose.bitsPerByte, accuracy: 1e-5)
        XCTAssertEqual(json["targets"] as? Int, prose.targets)

        // Standard input gives the same figures; the human report names them.
        let piped = try blt(["eval", "--model", model, "--json", "-"], stdin: Data(prose.text.utf8))
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertEqual(try object(piped.stdout)["nll_nats"] as? Double, json["nll_nats"] as? Double)
        let human = try blt(["eval", "--model", model, text.path])
        XCTAssertEqual(human.status, 0, human.stderr)
        let report = String(decoding: human.stdout, as: UTF8.self)
        for word in ["bits per byte", "perplexity/byte", "documents", "bytes", "patches", "bytes/s"] {
            XCTAssertTrue(report.contains(word), report)
        }

        // JSONL in three shards, merged, equals the unsharded run's sums bit for bit, with one
        // forward pass per window and packed (shards own whole groups of passes).
        let lines = cases.map { String(decoding: try! JSONSerialization.data(withJSONObject: ["text": $0.text]), as: UTF8.self) }
        let jsonl = scratch.appendingPathComponent("docs.jsonl")
        try Data((lines + lines + [#"{"text": ""}"#]).joined(separator: "\n").utf8).write(to: jsonl)
        var parts: [String] = []
        for budget in ["0", "100"] {
            let settings = ["--json", "--per-document", "--window", "48", "--context", "8", "--batch-bytes", budget]
            let whole = try blt(["eval", "--model", model] + settings + [jsonl.path])
            XCTAssertEqual(whole.status, 0, whole.stderr)
            parts = []
            // --per-byte runs the same passes: the same sums, and a shard run with it merges with shards run without.
            let perByte = scratch.appendingPathComponent("bytes-\(budget).jsonl").path
            let wholeWithBytes = try blt(["eval", "--model", model] + settings + ["--per-byte", perByte, jsonl.path])
            XCTAssertEqual(wholeWithBytes.status, 0, wholeWithBytes.stderr)
            XCTAssertEqual(try sums(wholeWithBytes), try sums(whole), "--per-byte, --batch-bytes \(budget)")
            for i in 0..<3 {
                let part = scratch.appendingPathComponent("part\(i).json").path
                let bytes = i == 1 ? ["--per-byte", scratch.appendingPathComponent("part\(i).bytes.jsonl").path] : []
                let run = try blt(["eval", "--model", model] + settings + bytes + ["--shard", "\(i)/3", "--output", part, jsonl.path])
                XCTAssertEqual(run.status, 0, run.stderr)
                XCTAssertEqual(try object(run.stdout)["shards"] as? [Int], [i])
                parts.append(part)
            }
            let merged = try blt(["eval-merge", "--json"] + parts.reversed())
            XCTAssertEqual(merged.status, 0, merged.stderr)
            XCTAssertEqual(try sums(merged), try sums(whole), "--batch-bytes \(budget)")
            XCTAssertEqual(try object(merged.stdout)["bits_per_byte"] as? Double, try object(whole.stdout)["bits_per_byte"] as? Double)
            XCTAssertEqual((try object(merged.stdout)["per_document"] as? [Any])?.count, 2 * cases.count)
        }
        let partial = try blt(["eval-merge", parts[0], parts[2]])
        XCTAssertNotEqual(partial.status, 0)
        XCTAssertTrue(partial.stderr.contains("shard 1 of 3 is missing"), partial.stderr)
        XCTAssertEqual(partial.stdout.count, 0)
    }

    func testEvalErrorsExitNonZeroWithoutJSON() throws {
        let model = try XCTUnwrap(Fixtures.modelDirectories.first)
        let missing = scratch.appendingPathComponent("missing.txt").path
        let bad = scratch.appendingPathComponent("bad.jsonl")
        try Data("{\"text\": \"ok\"}\n{\"text\": \"ok\"\n".utf8).write(to: bad)
        let notModel = scratch.appendingPathComponent("not-a-model")
        try FileManager.default.createDirectory(at: notModel, withIntermediateDirectories: true)
        let good = scratch.appendingPathComponent("good.txt")
        try Data("hello".utf8).write(to: good)
        let noField = scratch.appendingPathComponent("no-field.jsonl")
        try Data("{\"body\": \"x\"}\n".utf8).write(to: noField)
        let empty = scratch.appendingPathComponent("empty.txt")
        try Data().write(to: empty)

        let checks: [([String], String)] = [
            (["eval", "--model", model, "--json", missing], missing),
            (["eval", "--model", model, "--json", bad.path], "\(bad.path):2"),
            (["eval", "--model", model, "--json", bad.path], "pass --skip-bad-lines"),
            (["eval", "--model", model, "--json", noField.path], "no field 'text' (choose the field with --field NAME)"),
            (["eval", "--model", notModel.path, "--json", good.path], notModel.path),
            (["eval", "--model", model, "--json", "--window", "1", good.path], "cannot hold a patch"),
            (["eval", "--model", model, "--json", "--window", "1", good.path], "pass --window 2 or more"),
            (["eval", "--model", model, "--json", "--window", "10", "--context", "9", good.path], "use --context 8 or less"),
            (["eval", "--model", model, "--json", "--shard", "3/3", good.path], "--shard '3/3' is not I/N"),
            (["eval", "--model", model, "--json", empty.path], "nothing to score"),
            (["eval-merge", missing], missing),
            (["eval-merge", good.path], good.path),
        ]
        for (arguments, needle) in checks {
            let run = try blt(arguments)
            let label = arguments.joined(separator: " ")
            XCTAssertNotEqual(run.status, 0, label)
            XCTAssertEqual(run.stdout.count, 0, "no JSON on failure: \(label)")
            XCTAssertTrue(run.stderr.contains(needle), "\(label): \(run.stderr)")
        }
        let skipping = try blt(["eval", "--model", model, "--json", "--skip-bad-lines", bad.path])
        XCTAssertEqual(skipping.status, 0, skipping.stderr)
        XCTAssertTrue(skipping.stderr.contains("\(bad.path):2"), skipping.stderr)
        XCTAssertEqual(try object(skipping.stdout)["skipped_bad_lines"] as? Int, 1)
    }
}

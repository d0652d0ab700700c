import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import JSONSupport

/// `blt generate` end to end: its sampling flags against transformers' greedy continuations (the fixtures'
/// `generation` entries), EOS stopping, seeds and flag validation.
final class GenerateCLITests: XCTestCase {
    typealias Run = BLTRun

    func blt(_ arguments: [String]) throws -> Run { try runBLT(arguments) }

    /// Runs `blt generate --json` and returns its generated ids.
    func generate(_ model: String, _ prompt: String, _ flags: [String]) throws -> [Int] {
        let run = try blt(["generate", "--model", model, "--prompt", prompt, "--json"] + flags)
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any], "no JSON from blt generate \(flags)")
        return try XCTUnwrap(object["generated_ids"] as? [Int], "no generated_ids from blt generate \(flags)")
    }

    /// (prompt, transformers' 72 greedy ids) of a fixture model.
    func greedyRuns(_ name: String) throws -> [(prompt: String, ids: [Int])] {
        let path = Fixtures.modelDirectory(name) + "/expected.json"
        let expected = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: path)))
        let runs = expected["generation"].array.map { (prompt: $0["prompt"].string ?? "", ids: $0["generated_ids"].ints) }
        XCTAssertEqual(runs.count, 2, "generation runs in \(path)")
        for run in runs { XCTAssertEqual(run.ids.count, 72, "generated_ids in \(path)") }
        return runs
    }

    /// Flags that must reduce to argmax: temperature 0 (whatever else is given), top-k 1, a top-p below
    /// every top probability; all equal transformers' greedy ids.
    func testGreedyEquivalentFlagsGiveTransformersGreedyIDs() throws {
        let model = Fixtures.modelDirectory("tiny-a")
        for run in try greedyRuns("tiny-a") {
            for flags in [[], ["--temperature", "0", "--top-k", "7", "--top-p", "0.3", "--seed", "5"],
                          ["--temperature", "1.5", "--top-k", "1", "--seed", "3"],
                          ["--temperature", "0.9", "--top-p", "0.000001", "--seed", "4"]] {
                let ids = try generate(model, run.prompt, flags + ["--max-bytes", "72", "--ignore-eos"])
                XCTAssertEqual(ids, run.ids, "blt generate \(flags.joined(separator: " ")) on \(run.prompt.debugDescription)")
            }
        }
    }

    /// Generation stops right after EOS unless --ignore-eos (tiny-b's greedy continuation has EOS at step 6).
    func testStopsAtEOSUnlessIgnored() throws {
        let model = Fixtures.modelDirectory("tiny-b")
        let run = try XCTUnwrap(try greedyRuns("tiny-b").first)
        let eos = try XCTUnwrap(run.ids.firstIndex(of: Int(Tokenizer.eosID)), "tiny-b's first greedy run has no EOS")
        XCTAssertEqual(try generate(model, run.prompt, ["--max-bytes", "72"]), Array(run.ids[...eos]))
        XCTAssertEqual(try generate(model, run.prompt, ["--max-bytes", "72", "--ignore-eos"]), run.ids)
        XCTAssertEqual(try generate(model, run.prompt, ["--max-bytes", "3", "--ignore-eos"]), Array(run.ids.prefix(3)))
    }

    /// Sampling: the same seed gives the same bytes, another seed other bytes, and sampled runs leave greedy.
    func testSeedsReproduceAndDiffer() throws {
        let model = Fixtures.modelDirectory("tiny-a")
        let run = try XCTUnwrap(try greedyRuns("tiny-a").first)
        let flags = ["--temperature", "1", "--top-k", "40", "--top-p", "0.95", "--max-bytes", "48", "--ignore-eos"]
        let a = try generate(model, run.prompt, flags + ["--seed", "7"])
        XCTAssertEqual(a.count, 48)
        XCTAssertEqual(try generate(model, run.prompt, flags + ["--seed", "7"]), a)
        XCTAssertNotEqual(try generate(model, run.prompt, flags + ["--seed", "8"]), a)
        XCTAssertNotEqual(a, Array(run.ids.prefix(48)), "sampling at temperature 1 gave the greedy continuation")
    }

    func testBadSamplingFlagsAreErrors() throws {
        let model = Fixtures.modelDirectory("tiny-a")
        for (flags, needle) in [(["--temperature", "-1"], "--temperature"), (["--top-p", "1.5"], "--top-p"),
                                (["--top-k", "-2"], "--top-k"), (["--max-bytes", "-1"], "--max-bytes")] {
            let run = try blt(["generate", "--model", model, "--prompt", "x", "--json"] + flags)
            XCTAssertNotEqual(run.status, 0, flags.joined(separator: " "))
            XCTAssertEqual(run.stdout.count, 0, flags.joined(separator: " "))
            XCTAssertTrue(run.stderr.contains(needle), "\(flags): \(run.stderr)")
        }
    }

    /// NaN logits end `blt generate` with the error, and no JSON with made-up ids.
    func testNaNLogitsFailTheRunWithoutOutput() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("blt-nan-head-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let dir = try Fixtures.nonFiniteHeadModel(in: scratch.path)
        let run = try blt(["generate", "--model", dir, "--prompt", "hi", "--max-bytes", "5", "--json"])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("NaN or infinite logits"), run.stderr)
        XCTAssertEqual(run.stdout.count, 0, "no JSON with made-up ids")
    }
}

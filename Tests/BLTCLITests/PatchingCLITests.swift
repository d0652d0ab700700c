import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent

/// The patching flags on `blt patch`, `eval`, `generate`, `serve` and `sweep`, end to end: every rule
/// reaches the engine, a sweep's rows are the separate `blt eval` runs bit for bit, and every bad
/// combination is a clear error with a non-zero exit and nothing on standard output.
final class PatchingCLITests: ScratchTestCase {
    let model = Fixtures.modelDirectory("tiny-a")


    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func object(_ run: BLTRun) throws -> [String: Any] {
        XCTAssertEqual(run.status, 0, run.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any])
    }

    func documents() throws -> String {
        let texts = try ReferenceCase.all(model).map(\.text).filter { !$0.isEmpty }
        let lines = try texts.map { String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0]), as: UTF8.self) }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path("docs.jsonl")))
        return path("docs.jsonl")
    }

    static let ruleFlags: [[String]] = [
        ["--patching", "entropy", "--threshold", "0.9"], ["--patching", "monotonic", "--threshold", "0.3"],
        ["--patching", "entropy+monotonic", "--threshold", "0.9", "--threshold-add", "0.2"],
        ["--patching", "topk", "--patch-size", "3"], ["--patching", "space"], ["--patching", "static", "--patch-size", "3"],
        ["--patching", "entropy", "--max-patch-length", "2"],
    ]

    /// `blt patch --json` patches its own printed entropies by the chosen rule, in both layouts.
    func testPatchJSONAppliesEachRuleToItsOwnEntropies() throws {
        let text = "Names refer to objects, naïvely: 42 of them!"
        for flags in Self.ruleFlags {
            let json = try object(try runBLT(["patch", "--model", model, "--json", "--text", text] + flags))
            let ids = try XCTUnwrap(json["ids"] as? [Int]).map(Int32.init)
            let entropies = try XCTUnwrap(json["entropies"] as? [Double]).map(Float.init)
            let scheme = try Self.scheme(flags)
            XCTAssertEqual(json["patch_lengths"] as? [Int], try scheme.patchLengths(ids: ids, entropies: entropies), "\(flags)")
            XCTAssertEqual(json["official_patch_lengths"] as? [Int],
                           try scheme.officialPatchLengths(ids: ids, entropies: entropies, includeNextToken: true), "\(flags)")
            XCTAssertEqual(json["official_patch_lengths_no_next_token"] as? [Int],
                           try scheme.officialPatchLengths(ids: ids, entropies: entropies, includeNextToken: false), "\(flags)")
            XCTAssertEqual(json["patching"] as? String, scheme.identifier)
        }
    }

    static func scheme(_ flags: [String]) throws -> PatchingScheme {
        func value(_ flag: String) -> String? { flags.firstIndex(of: flag).map { flags[$0 + 1] } }
        let threshold = Float(value("--threshold") ?? "1.1224894523620605")!
        let size = Int(value("--patch-size") ?? "0") ?? 0
        let rule: PatchingRule
        switch value("--patching") {
        case "monotonic": rule = .monotonic
        case "entropy+monotonic": rule = .entropyMonotonic(thresholdAdd: Float(value("--threshold-add")!)!)
        case "topk": rule = .topK(patchSize: size)
        case "space": rule = .space
        case "static": rule = .fixed(patchSize: size)
        default: rule = .entropy
        }
        return try PatchingScheme(rule: rule, threshold: threshold, maxPatchLength: value("--max-patch-length").flatMap { Int($0) })
    }

    /// Each sweep row's sums equal `blt eval` run alone with the same flags, bit for bit.
    func testSweepRowsEqualSeparateEvalRuns() throws {
        let docs = try documents()
        let svg = path("sweep.svg")
        let sweeps: [(sweep: [String], each: [[String]])] = [
            (["--thresholds", "0.7,1.1224894523620605,1.6"], [["--threshold", "0.7"], ["--threshold", "1.1224894523620605"], ["--threshold", "1.6"]]),
            (["--patching", "static", "--patch-sizes", "2,5"], [["--patching", "static", "--patch-size", "2"], ["--patching", "static", "--patch-size", "5"]]),
        ]
        for (sweep, each) in sweeps {
            let json = try object(try runBLT(["sweep", "--model", model, "--json", "--batch-bytes", "300", "--svg", svg, docs] + sweep))
            let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
            XCTAssertEqual(rows.count, each.count)
            for (row, flags) in zip(rows, each) {
                let eval = try object(try runBLT(["eval", "--model", model, "--json", "--batch-bytes", "300", docs] + flags))
                var sweepSums = try XCTUnwrap((row["summary"] as? [String: Any])?["sums"] as? [String: Any])
                var evalSums = try XCTUnwrap(eval["sums"] as? [String: Any])
                sweepSums["seconds"] = nil
                evalSums["seconds"] = nil
                XCTAssertEqual(NSDictionary(dictionary: sweepSums), NSDictionary(dictionary: evalSums), "\(flags)")
                XCTAssertEqual(row["bits_per_byte"] as? Double, eval["bits_per_byte"] as? Double, "\(flags)")
                let flops = try XCTUnwrap(row["flops_per_byte"] as? [String: Double])
                XCTAssertEqual(Set(flops.keys), ["entropy_model", "local_encoder", "global_transformer", "local_decoder", "total"])
                XCTAssertEqual(flops["entropy_model"] == 0, flags.contains("static"), "static patching runs no entropy model")
            }
            let drawing = try String(contentsOfFile: svg, encoding: .utf8)
            XCTAssertEqual(drawing.components(separatedBy: "<circle").count - 1, 2 * each.count)
        }
        let table = try runBLT(["sweep", "--model", model, "--thresholds", "0.7,1.6", docs])
        XCTAssertEqual(table.status, 0, table.stderr)
        let lines = String(decoding: table.stdout, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[1].hasPrefix("entropy 0.7"), String(lines[1]))
    }

    /// Generation and serving patch by the chosen rule too: a greedy continuation's patches are the
    /// rule applied to its own ids and entropies, and a rolling request equals `blt eval --no-eos`.
    func testGenerateAndServeUseTheRule() throws {
        for flags in [["--patching", "space"], ["--patching", "static", "--patch-size", "3"], ["--patching", "monotonic", "--threshold", "0.3"]] {
            let generated = try object(try runBLT(["generate", "--model", model, "--prompt", "Hello, wo", "--max-bytes", "12", "--json", "--ignore-eos"] + flags))
            let ids = (try XCTUnwrap(generated["prompt_ids"] as? [Int]) + (try XCTUnwrap(generated["generated_ids"] as? [Int]))).map(Int32.init)
            let loaded = try BLTModel(directory: model)
            let scheme = try Self.scheme(flags)
            XCTAssertEqual(generated["patch_lengths"] as? [Int], try scheme.patchLengths(ids: ids, entropies: try loaded.entropies(ids)), "\(flags)")

            let text = "Names refer to objects."
            let request = try JSONSerialization.data(withJSONObject: ["type": "loglikelihood_rolling", "text": text]) + Data("\n".utf8)
            let served = try runBLT(["serve", "--stdio", "--model", model] + flags, stdin: request)
            XCTAssertEqual(served.status, 0, served.stderr)
            let response = try XCTUnwrap(try JSONSerialization.jsonObject(with: served.stdout) as? [String: Any])
            try Data(text.utf8).write(to: URL(fileURLWithPath: path("t.txt")))
            let eval = try object(try runBLT(["eval", "--model", model, "--json", "--no-eos", path("t.txt")] + flags))
            let nll = try XCTUnwrap(eval["nll_nats"] as? Double)
            XCTAssertEqual(try XCTUnwrap(response["loglikelihood"] as? Double), -nll, accuracy: 1e-9 * max(1, nll), "\(flags)")
        }
    }

    func testBadCombinationsAreClearErrors() throws {
        let text = path("t.txt")
        try Data("Hello, patches!".utf8).write(to: URL(fileURLWithPath: text))
        let cases: [([String], String)] = [
            (["patch", "--threshold", "nan"], "--threshold must be a finite number"),
            (["eval", "--threshold", "inf"], "--threshold must be a finite number"),
            (["patch", "--patching", "bogus"], "--patching must be one of"),
            (["patch", "--patching", "topk", "--patch-size", "-2"], "--patch-size must be between 1"),
            (["patch", "--patching", "static", "--patch-size", "0"], "--patch-size must be between 1"),
            (["eval", "--max-patch-length", "-1"], "--max-patch-length must be between 0"),
            (["patch", "--patching", "topk", "--patch-size", "100"], "at least 200 ids"),
            (["eval", "--patching", "topk", "--patch-size", "100"], "at least 200 ids"),
            (["patch", "--patching", "space", "--threshold", "1"], "does not use an entropy threshold"),
            (["patch", "--threshold-add", "0.1"], "--threshold-add applies only to --patching entropy+monotonic"),
            (["patch", "--patch-size", "4"], "--patch-size applies only to --patching topk or static"),
            (["eval", "--patching", "entropy+monotonic", "--threshold-add", "nan"], "--threshold-add must be a finite number"),
            (["generate", "--patching", "topk", "--patch-size", "2", "--prompt", "Hello there, general"], "decides over the whole sequence"),
            (["sweep", "--thresholds", "1,nan"], "is not a finite number"),
            (["sweep"], "give the settings to sweep"),
            (["sweep", "--thresholds", "1", "--patch-sizes", "2"], "give the settings to sweep"),
            (["sweep", "--patching", "topk", "--patch-sizes", "2,-1"], "is not a whole number of ids"),
        ]
        for (arguments, message) in cases {
            var full = arguments + ["--model", model]
            if arguments[0] != "generate" { full.append(text) }
            let run = try runBLT(full)
            XCTAssertNotEqual(run.status, 0, "\(arguments)")
            XCTAssertTrue(run.stderr.contains(message), "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stdout.isEmpty, "\(arguments) printed output")
        }
    }
}

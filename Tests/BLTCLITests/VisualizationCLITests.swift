import Foundation
import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import JSONSupport

/// `blt patch --svg`, `blt eval --per-byte` and `blt eval --svg` end to end: the files agree with
/// `blt patch --json` and the fixtures, and output paths never destroy what the user did not ask
/// to replace. Fails when the executable has not been built.
final class VisualizationCLITests: ScratchTestCase {


    typealias Run = BLTRun

    func blt(_ arguments: [String]) throws -> Run { try runBLT(arguments) }

    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func write(_ name: String, _ data: Data) throws -> String {
        try data.write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() }

    func testPatchSVGAndPerByteAgreeWithPatchJSONAndTheFixtures() throws {
        for directory in Fixtures.modelDirectories.prefix(2) {
            for c in try ReferenceCase.all(directory) where c.name != "one_byte" {
                let label = "\(URL(fileURLWithPath: directory).lastPathComponent)/\(c.name)"
                let text = try write("\(c.name).txt", Data(c.text.utf8))
                let json = try blt(["patch", "--model", directory, "--json", text])
                XCTAssertEqual(json.status, 0, json.stderr)
                let lengths = try XCTUnwrap((try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])?["patch_lengths"] as? [Int])
                XCTAssertEqual(lengths, c.patchLengths, label)
                let starts = ParsedSVG.patchStarts(lengths)

                let svg = try blt(["patch", "--model", directory, "--svg", path("\(c.name).svg"), text])
                XCTAssertEqual(svg.status, 0, svg.stderr)
                XCTAssertTrue(String(decoding: svg.stdout, as: UTF8.self).hasPrefix("<s>|"), "the text is still printed")
                let parsed = try ParsedSVG(try String(contentsOfFile: path("\(c.name).svg"), encoding: .utf8))
                XCTAssertEqual(parsed.boundaries, starts, label)
                XCTAssertEqual(parsed.points, c.ids.count - 1, label)

                let toStdout = try blt(["patch", "--model", directory, "--svg", "-", text])
                XCTAssertEqual(toStdout.status, 0, toStdout.stderr)
                XCTAssertEqual(toStdout.stdout, try Data(contentsOf: URL(fileURLWithPath: path("\(c.name).svg"))), "--svg - writes the same SVG")

                let perByte = path("\(c.name).jsonl")
                let eval = try blt(["eval", "--model", directory, "--json", "--per-byte", perByte, "--svg", path("\(c.name)-eval.svg"), text])
                XCTAssertEqual(eval.status, 0, eval.stderr)
                let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: eval.stdout) as? [String: Any])
                let lines = try String(contentsOfFile: perByte, encoding: .utf8).split(separator: "\n")
                XCTAssertEqual(lines.count, 1)
                let line = try JSONValue.parse(Data(lines[0].utf8))
                let surprisal = line["surprisal_bits"].array.compactMap(\.doubleValue)
                XCTAssertEqual(surprisal.count, c.targets, label)
                let nllBits = try XCTUnwrap(summary["nll_nats"] as? Double) / M_LN2
                XCTAssertEqual(surprisal.reduce(0, +), nllBits, accuracy: 1e-6 * nllBits, label)
                XCTAssertEqual(surprisal.reduce(0, +), c.nll / M_LN2, accuracy: 1e-6 * c.nll / M_LN2, label)
                let flags = line["patch_start"].array.compactMap { value -> Bool? in if case .bool(let b) = value { return b }; return nil }
                XCTAssertEqual(flags.indices.filter { flags[$0] }, starts, "per-byte patch starts are blt patch's: \(label)")
                let evalSVG = try ParsedSVG(try String(contentsOfFile: path("\(c.name)-eval.svg"), encoding: .utf8))
                XCTAssertEqual(evalSVG.points, 2 * c.targets, "surprisal and entropy, one point per byte each: \(label)")
                XCTAssertEqual(evalSVG.boundaries, starts, label)
            }
        }
        let left = try files()
        XCTAssertFalse(left.contains { $0.hasPrefix(".") }, "no temporary file left: \(left)")
    }

    func testOutputPathsNeverDestroyWhatWasNotAskedFor() throws {
        let model = try XCTUnwrap(Fixtures.modelDirectories.first)
        let text = try write("doc.txt", Data("Hello, patches!".utf8))
        let old = Data("older content".utf8)
        let existing = try write("existing.svg", old)
        let folder = path("folder")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)

        // A directory, a missing folder, an input file, a device: refused before any work, nothing written.
        let refusals: [([String], String)] = [
            (["patch", "--model", model, "--svg", folder, text], "is a directory"),
            (["eval", "--model", model, "--per-byte", folder, text], "is a directory"),
            (["eval", "--model", model, "--svg", path("missing/plot.svg"), text], "does not exist"),
            (["eval", "--model", model, "--per-byte", text, text], "is an input of this run"),
            (["patch", "--model", model, "--svg", text, text], "is an input of this run"),
            (["eval", "--model", model, "--per-byte", model + "/config.json", text], "lies inside an input of this run"),
            (["patch", "--model", model, "--svg", "/dev/null", text], "not a regular file"),
            (["eval", "--model", model, "--per-byte", existing, "--svg", existing, text], "a file of its own"),
        ]
        for (arguments, message) in refusals {
            let run = try blt(arguments)
            XCTAssertNotEqual(run.status, 0, "\(arguments)")
            XCTAssertTrue(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: text)), Data("Hello, patches!".utf8))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: existing)), old)

        // A run that fails half-way (second JSONL line malformed; two documents for one --svg) leaves the old files.
        let jsonl = try write("docs.jsonl", Data("{\"text\": \"first document\"}\n{\"text\": 3}\n".utf8))
        let perByte = try write("bytes.jsonl", old)
        let failed = try blt(["eval", "--model", model, "--per-byte", perByte, jsonl])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.stderr.contains("docs.jsonl:2"), failed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: perByte)), old)
        let two = try write("two.jsonl", Data("{\"text\": \"first\"}\n{\"text\": \"second\"}\n".utf8))
        let tooMany = try blt(["eval", "--model", model, "--svg", existing, two])
        XCTAssertNotEqual(tooMany.status, 0)
        XCTAssertTrue(tooMany.stderr.contains("--svg draws one document"), tooMany.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: existing)), old)
        let left = try files()
        XCTAssertFalse(left.contains { $0.hasPrefix(".") }, "no temporary file left: \(left)")

        // Asked for: an existing file is replaced, once complete; a symbolic link keeps pointing at it.
        let link = path("link.svg")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: existing)
        let replaced = try blt(["patch", "--model", model, "--svg", link, text])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), existing)
        XCTAssertTrue(try String(contentsOfFile: existing, encoding: .utf8).hasPrefix("<?xml"))
        let lines = try blt(["eval", "--model", model, "--per-byte", perByte, two])
        XCTAssertEqual(lines.status, 0, lines.stderr)
        XCTAssertEqual(try String(contentsOfFile: perByte, encoding: .utf8).split(separator: "\n").count, 2, "one line per document")
    }
}

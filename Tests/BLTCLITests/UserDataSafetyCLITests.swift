import Foundation
import XCTest
import TestSupport
import Safetensors
import JSONSupport
@testable import ByteLatent
#if canImport(Glibc)
import Glibc
#endif

/// The reproductions of issue 12 about user data, run against the built `blt`: an output never
/// replaces an input, the model or a device, convert never overlaps its source, closed or full
/// streams and bad numbers are errors before anything is written, and eval-merge trusts no shard.
final class UserDataSafetyCLITests: HostileCLITestCase {
    // MARK: --output never destroys input

    func testOutputRefusesDirectoriesTheModelAndDevices() throws {
        try FileManager.default.createDirectory(atPath: work + "/D/sub", withIntermediateDirectories: true)
        try writeFile("D/sub/file", "keep")
        let modelBefore = try tree(model)
        assertRefused(try sh("$BLT eval --model M --output D doc.txt"), [64], mentions: "'D' is a directory")
        XCTAssertEqual(try String(contentsOfFile: work + "/D/sub/file", encoding: .utf8), "keep")
        assertRefused(try sh("$BLT eval --model M --output M doc.txt"), [64], mentions: "directory")
        assertRefused(try sh("$BLT eval --model M --output doc.txt doc.txt"), [64], mentions: "is the input 'doc.txt'")
        assertRefused(try sh("$BLT eval --model M --output M/config.json doc.txt"), [64], mentions: "inside the model directory")
        assertRefused(try sh("$BLT eval --model M --output ./M/../M/result.json doc.txt"), [64], mentions: "inside the model directory")
        XCTAssertEqual(try tree(model), modelBefore)
        // A device is never replaced by a regular file (as root this used to happen to /dev/full).
        assertRefused(try sh("$BLT eval --model M --output /dev/full doc.txt"), [64], mentions: "not a regular file")
        var info = stat()
        XCTAssertEqual(stat("/dev/full", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR)
        // eval-merge: the merged output may not replace a shard it reads.
        let shard = try sh("$BLT eval --model M --json --output s0.json --shard 0/1 doc.txt")
        assertSucceeded(shard)
        let before = try Data(contentsOf: URL(fileURLWithPath: work + "/s0.json"))
        assertRefused(try sh("$BLT eval-merge --output s0.json s0.json"), [64], mentions: "s0.json")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: work + "/s0.json")), before)
        assertRefused(try sh("$BLT eval-merge --output D s0.json"), [64], mentions: "is a directory")
        assertRefused(try sh("$BLT eval --model M --output newdir/ doc.txt"), [64], mentions: "does not name a file")
        assertRefused(try sh("$BLT eval --model M --output missing/../r.json doc.txt"), [64], mentions: "does not exist")
        // A regular file is replaced (that is what --output is for), and no temporary file is left.
        XCTAssertEqual(try sh("$BLT eval-merge --output merged.json s0.json && $BLT eval --model M --output merged.json doc.txt").status, 0)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: work).contains { $0.contains(".tmp-") || $0.hasSuffix(".partial") })
    }

    // MARK: convert never overlaps its source

    func testConvertNeverDestroysItsSource() throws {
        let hub = work + "/sb/H"
        try FileManager.default.createDirectory(atPath: work + "/sb", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("hub-tiny"), toPath: hub)
        try writeFile("sb/sibling.txt", "unrelated")
        let before = try tree(work + "/sb")
        assertRefused(try sh("$BLT convert sb/H sb/H --force"), [1], mentions: "source checkpoint itself")
        assertRefused(try sh("$BLT convert sb/H sb --force"), [1], mentions: "contains the source")
        assertRefused(try sh("$BLT convert sb/H sb/H/out"), [1], mentions: "inside the source")
        assertRefused(try sh("$BLT convert \(hub) . --force", in: hub), [1], mentions: "source checkpoint itself")
        try FileManager.default.createDirectory(atPath: work + "/mine", withIntermediateDirectories: true)
        try writeFile("mine/notes.txt", "notes")
        assertRefused(try sh("$BLT convert sb/H mine --force"), [1], mentions: "notes.txt")
        assertRefused(try sh("$BLT convert sb/H mine"), [1], mentions: "already exists; pass --force to replace it")
        // Relative names with trailing slashes (Foundation's deletingLastPathComponent traps on "U/").
        for name in ["U/", "./V/", "W//"] {
            let run = try sh("$BLT convert sb/H \(name) && $BLT convert sb/H \(name) --force")
            assertSucceeded(run)
        }
        let inspected = try sh("$BLT inspect model.safetensors", in: hub)
        assertSucceeded(inspected)
        XCTAssertEqual(try tree(work + "/sb"), before)
        XCTAssertEqual(try String(contentsOfFile: work + "/mine/notes.txt", encoding: .utf8), "notes")
    }

    // MARK: Standard streams

    func testClosedStandardInputIsAnError() throws {
        assertRefused(try sh("$BLT eval --model M - <&-"), [1], mentions: "standard input is closed")
        assertRefused(try sh("$BLT patch --model M - <&-"), [1], mentions: "standard input is closed")
        assertRefused(try sh("$BLT generate --model M --max-bytes 4 - <&-"), [1], mentions: "standard input is closed")
    }

    func testFullOrClosedStandardOutputIsAnError() throws {
        // Was: SIGILL (generate), or exit 0 with the results lost (eval).
        assertRefused(try sh("$BLT generate --model M --prompt hi --max-bytes 8 --ignore-eos > /dev/full"), [1], mentions: "standard output")
        assertRefused(try sh("$BLT eval --model M doc.txt > /dev/full"), [1], mentions: "standard output")
        assertRefused(try sh("$BLT eval --model M --json doc.txt >&-"), [1], mentions: "standard output")
        assertRefused(try sh("$BLT patch --model M --text hello > /dev/full"), [1], mentions: "standard output")
        assertRefused(try sh("$BLT inspect M > /dev/full"), [1], mentions: "standard output")
        assertRefused(try sh("$BLT eval --help > /dev/full"), [1], mentions: "standard output")
        // Reported once, not again at exit.
        let once = try sh("$BLT eval --model M doc.txt > /dev/full")
        XCTAssertEqual(once.stderr.components(separatedBy: "standard output").count, 2, once.stderr)
        // A closed pipe ends the process quietly (SIGPIPE, as `cat` does), with no trap and no message.
        let piped = try sh("$BLT generate --model M --prompt hi --max-bytes 2000 --ignore-eos | head -c 1 > /dev/null; echo done")
        XCTAssertEqual(piped.stdout, "done\n")
        XCTAssertFalse(piped.stderr.contains("Fatal") || piped.stderr.contains("Illegal"), piped.stderr)
    }

    // MARK: Numbers

    func testNonFiniteAndOutOfRangeNumbersAreRefusedUpFront() throws {
        for value in ["nan", "inf", "1e39", "-inf"] {
            assertRefused(try sh("$BLT eval --model M --threshold \(value) doc.txt"), [64], mentions: "--threshold", "finite")
            assertRefused(try sh("$BLT patch --model M --threshold \(value) --text hi"), [64], mentions: "--threshold", "finite")
        }
        assertRefused(try sh("$BLT generate --model M --prompt hi --temperature -1"), [64], mentions: "--temperature must be ≥ 0")
        assertRefused(try sh("$BLT generate --model M --prompt hi --temperature nan"), [64], mentions: "--temperature")
        assertRefused(try sh("$BLT generate --model M --prompt hi --top-p nan"), [64], mentions: "--top-p")
        // Negative numbers are values (refused by range), not "Missing value".
        assertRefused(try sh("$BLT eval --model M --window -5 doc.txt"), [1], mentions: "window")
        assertRefused(try sh("$BLT eval --model M --context -1 doc.txt"), [64], mentions: "--context must be 0 or more")
        assertRefused(try sh("$BLT eval --model M --chunk-targets -1 doc.txt"), [64], mentions: "--chunk-targets")
        // Was: overflow past the position check, then generating forever.
        assertRefused(try sh("$BLT generate --model M --prompt hi --max-bytes 9223372036854775807 --ignore-eos", timeout: 30), [64], mentions: "--max-bytes")
        assertRefused(try sh("$BLT generate --model M --prompt hi --max-bytes 100000 --ignore-eos", timeout: 30), [1], mentions: "positions")
        for size in ["1e300GB", "infGB", "nanMB", "-5GB"] {
            assertRefused(try sh("$BLT convert H out --max-shard-size \(size)"), [64], mentions: "--max-shard-size")
        }
        // Was: a segfault.
        assertRefused(try sh("$BLT eval --model M --shard 0/9223372036854775807 doc.txt"), [1], mentions: "--shard")
        // Was: accepted on a model with fewer positions.
        assertRefused(try sh("$BLT eval --model M --window 2000000 doc.txt"), [1], mentions: "--window 2000000 exceeds")
    }

    // MARK: eval-merge trusts nothing

    func testEvalMergeRefusesTamperedShards() throws {
        try writeFile("docs.jsonl", "{\"text\": \"one document\"}\n{\"text\": \"another one\"}\n")
        for i in 0..<2 {
            let run = try sh("$BLT eval --model M --json --per-document --batch-bytes 0 --shard \(i)/2 docs.jsonl > s\(i).json")
            assertSucceeded(run)
        }
        XCTAssertEqual(try sh("$BLT eval-merge s0.json s1.json").status, 0)
        func tamper(_ name: String, _ edit: (inout [String: Any]) -> Void) throws {
            var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/s1.json"))) as! [String: Any]
            edit(&object)
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: work + "/" + name))
        }
        func sums(_ o: inout [String: Any], _ key: String, _ value: Any) {
            var s = o["sums"] as! [String: Any]; s[key] = value; o["sums"] = s
        }
        try tamper("negative-nll.json") { sums(&$0, "nll_nats", "-1099511627776") }
        try tamper("zero-targets.json") { sums(&$0, "targets", 0) }
        try tamper("max-documents.json") { sums(&$0, "documents", Int.max) }
        try tamper("shard5.json") { $0["shards"] = [5] }
        try tamper("huge-count.json") { $0["shard_count"] = 4_611_686_018_427_387_904 }
        try tamper("not-json.json") { _ in }
        try writeFile("not-json.json", "{\"format\": \"blt-eval/1\"")
        for (file, mention) in [("negative-nll.json", "nll_nats"), ("zero-targets.json", "targets"), ("max-documents.json", "documents"),
                                ("shard5.json", "shard 5 is out of range"), ("huge-count.json", "shard_count"), ("not-json.json", "not valid JSON")] {
            let run = try sh("$BLT eval-merge s0.json \(file)", timeout: 30)
            assertRefused(run, [1], mentions: file, mention)
            XCTAssertFalse(run.stderr.contains("DecodingError") || run.stderr.contains("NSCocoaErrorDomain"), run.stderr)
            XCTAssertFalse(run.stdout.contains("documents"), run.stdout)
        }
        // Was: over a minute and a 40 MB message.
        try tamper("ten-million.json") { $0["shard_count"] = 10_000_000; $0.removeValue(forKey: "per_document") }
        let started = Date()
        let run = try sh("$BLT eval-merge ten-million.json", timeout: 30)
        assertRefused(run, [1], mentions: "--shard")   // 10,000,000 is beyond the shard limit
        XCTAssertLessThan(run.stderr.utf8.count, 1000)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        assertRefused(try sh("$BLT eval-merge missing.json"), [1], mentions: "missing.json")
        // Extreme but consistent figures: no trap converting them, no EncodingError for an infinite perplexity.
        var whole = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/s0.json"))) as! [String: Any]
        whole["shard_count"] = 1
        whole["shards"] = [0]
        whole.removeValue(forKey: "per_document")
        var sums = whole["sums"] as! [String: Any]
        sums["nll_nats"] = String(Int128(1) << 109)
        sums["seconds"] = 1e-9
        whole["sums"] = sums
        try JSONSerialization.data(withJSONObject: whole).write(to: URL(fileURLWithPath: work + "/extreme.json"))
        let extreme = try sh("$BLT eval-merge --json extreme.json && $BLT eval-merge extreme.json")
        assertSucceeded(extreme)
        XCTAssertTrue(extreme.stdout.contains("\"perplexity_per_byte\" : null"), extreme.stdout)
    }

    func testEvalMergeTellsModelsWithTheSameDirectoryNameApart() throws {
        // Another model in a directory also named M (different patching threshold).
        try FileManager.default.createDirectory(atPath: work + "/other", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-c"), toPath: work + "/other/M")
        let a = try sh("$BLT eval --model M --json --threshold 1.5 --shard 0/2 doc.txt > a.json")
        let b = try sh("$BLT eval --model other/M --json --threshold 1.5 --shard 1/2 doc.txt > b.json")
        assertSucceeded(a)
        assertSucceeded(b)
        assertRefused(try sh("$BLT eval-merge a.json b.json"), [1], mentions: "different model")
    }
}

import Foundation
import XCTest
import TestSupport
import Safetensors
import JSONSupport
@testable import ByteLatent
#if canImport(Glibc)
import Glibc
#endif

/// The reproductions of issue 12, run against the built `blt`: user data stays intact, the exit
/// status is 1 or 64 with a message naming the problem, and nothing traps or hangs.
final class HostileCLITests: ScratchTestCase {
    var work: String { scratch.path }
    /// A copy of a tiny model (`M` in the issue).
    var model: String { work + "/M" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-b"), toPath: model)
        try Data("Names refer to objects.".utf8).write(to: URL(fileURLWithPath: work + "/doc.txt"))
    }

    struct Run { var status: Int32; var signaled: Bool; var stdout: String; var stderr: String }

    /// Runs `sh -c script` with $BLT set, in `work` (shell redirections model closed and full streams),
    /// for at most `timeout` seconds.
    func sh(_ script: String, in directory: String? = nil, timeout: Double = 60) throws -> Run {
        guard let blt = bltExecutable() else { throw TestSupportError("blt is not built; run `swift build` first") }
        let process = Process()
        // GNU timeout signals its whole process group, so a hung `blt` under `sh` is killed too
        // (status 124): a hang fails the test instead of blocking the suite.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "5", "\(Int(timeout))", "/bin/sh", "-c", script]
        // No crash backtracer: it outlives a killed process group and would hold the pipes open, so
        // a regression that crashes would hang the test instead of failing it.
        process.environment = ProcessInfo.processInfo.environment.merging(["BLT": blt, "SWIFT_BACKTRACE": "enable=no"]) { _, new in new }
        process.currentDirectoryURL = URL(fileURLWithPath: directory ?? work)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Run(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal, stdout: stdout, stderr: stderr)
    }

    func assertRefused(_ run: Run, _ statuses: Set<Int32> = [1, 64], mentions: String..., file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(run.signaled, "killed by a signal: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(statuses.contains(run.status), "status \(run.status): \(run.stderr)", file: file, line: line)
        for text in mentions { XCTAssertTrue(run.stderr.contains(text), "'\(text)' not in: \(run.stderr)", file: file, line: line) }
    }

    func tree(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for case let name as String in FileManager.default.enumerator(atPath: dir)! {
            if let data = FileManager.default.contents(atPath: dir + "/" + name) { out[name] = data }
        }
        return out
    }

    /// A write past `ulimit -f` or into a closed pipe is an error that says so (EFBIG, EPIPE), never a
    /// death by SIGXFSZ or SIGPIPE, and leaves no partial output behind.
    func testFileSizeLimitAndClosedPipeAreReportedErrors() throws {
        try Data(String(repeating: "Names refer to objects. ", count: 100).utf8).write(to: URL(fileURLWithPath: work + "/long.txt"))
        let perByte = try sh("ulimit -f 1; $BLT eval --model M --per-byte bytes.jsonl long.txt")
        assertRefused(perByte, [1], mentions: "File too large")
        let convert = try sh("ulimit -f 4; $BLT convert '\(Fixtures.path("hub-tiny"))' out")
        assertRefused(convert, [1], mentions: "File too large")
        let left = try FileManager.default.contentsOfDirectory(atPath: work)
        XCTAssertEqual(left.filter { $0.contains("bytes.jsonl") || $0.contains("out") }, [], "partial outputs left: \(left)")
        // The reader is gone long before the model is loaded and the result written.
        let pipe = try sh("$BLT eval --model M --json long.txt 2>err.txt | true; cat err.txt")
        XCTAssertTrue(pipe.stdout.contains("Broken pipe"), "not reported: '\(pipe.stdout)'")
    }

    /// An endless input (/dev/zero, as a file or on standard input) ends in an error at the per-input
    /// limit, well inside a 3 GB address space, instead of growing until the allocator traps.
    func testEndlessInputsEndInAnErrorAtTheLimit() throws {
        for command in ["$BLT eval --model M /dev/zero", "$BLT eval --model M - < /dev/zero", "$BLT eval --model M --format jsonl /dev/zero",
                        "$BLT patch --model M /dev/zero", "$BLT generate --model M --max-bytes 1 - < /dev/zero"] {
            let run = try sh("ulimit -v 3000000; \(command)", timeout: 120)
            assertRefused(run, [1], mentions: "67108864 bytes")
            XCTAssertEqual(run.stdout, "", command)
        }
    }

    /// serve bounds each request line: an endless line is read to its end without being kept (a
    /// 1 GB address space is enough for 200 MB of zeros), answered with an error, and the next
    /// request is still served.
    func testServeSkipsARequestLineOverTheLimit() throws {
        let request = #"{"type":"loglikelihood","context":"The ","continuation":"cat","id":7}"#
        let run = try sh("ulimit -v 1000000; { head -c 200000000 /dev/zero; echo; echo '\(request)'; } | $BLT serve --stdio --model M --max-request-bytes 1000", timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n").map { try? JSONValue.parse(Data($0.utf8)) }
        XCTAssertEqual(lines.count, 2, run.stdout)
        XCTAssertEqual(lines.first??["error"]?.stringValue, "the request line is longer than 1000 bytes (serve's --max-request-bytes); it was skipped")
        XCTAssertEqual(lines.last??["id"]?.doubleValue, 7)
        XCTAssertNotNil(lines.last??["loglikelihood"]?.doubleValue, run.stdout)
        assertRefused(try sh("$BLT serve --stdio --model M --max-request-bytes 0 < /dev/null"), [64], mentions: "--max-request-bytes must be at least 1")
    }

    func integers(_ value: JSONValue?) -> [Int]? {
        guard case .array(let items)? = value else { return nil }
        return items.compactMap(\.intValue)
    }

    /// A weight file truncated while serve runs is an error for each later request (the file is
    /// checked before use), never the SIGBUS of reading its mapped pages; the service goes on.
    func testServeSurvivesAWeightFileTruncatedAfterLoad() throws {
        guard let blt = bltExecutable() else { throw TestSupportError("blt is not built; run `swift build` first") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: blt)
        process.arguments = ["serve", "--stdio", "--model", model]
        process.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { _, new in new }
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let request = Data(#"{"type":"loglikelihood","context":"The ","continuation":"cat"}"#.utf8 + [0x0A])
        input.fileHandleForWriting.write(request)
        var first = Data()
        while !first.contains(0x0A), let chunk = try output.fileHandleForReading.read(upToCount: 1), !chunk.isEmpty { first += chunk }
        XCTAssertTrue(String(decoding: first, as: UTF8.self).contains("loglikelihood"), String(decoding: first, as: UTF8.self))
        XCTAssertEqual(truncate(model + "/model.safetensors", 1000), 0)
        input.fileHandleForWriting.write(request)
        try input.fileHandleForWriting.close()
        let rest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit, "killed by signal \(process.terminationStatus)")
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(rest.contains("shrank from") && rest.contains("to 1000 bytes after it was loaded"), rest)
    }

    /// An address-space limit too small for OpenBLAS's buffers is an error before the first
    /// product (OpenBLAS itself would retry its allocation forever); a roomy one runs.
    func testAnAddressSpaceLimitTooSmallIsAnErrorNotASpin() throws {
        for command in ["eval --model M doc.txt", "patch --model M --text hi", "generate --model M --prompt hi --max-bytes 4"] {
            assertRefused(try sh("ulimit -v 400000; $BLT \(command)", timeout: 60), [1],
                          mentions: "address-space limit (RLIMIT_AS) is 390 MiB", "raise the limit to at least")
            XCTAssertEqual(try sh("ulimit -v 2000000; $BLT \(command)", timeout: 60).status, 0, command)
        }
    }

    /// Inputs that are links to nothing, a JSONL file with a byte-order mark and negative numbers
    /// get messages naming what is wrong (not "does not exist", "not valid JSON", "Missing value").
    func testMessagesNameLinksByteOrderMarksAndNegativeNumbers() throws {
        assertRefused(try sh("ln -s loop loop; $BLT eval --model M loop"), [1], mentions: "cannot read input file 'loop': it is a symbolic link loop")
        assertRefused(try sh("ln -s nowhere dangling; $BLT eval --model M dangling"), [1],
                      mentions: "it is a symbolic link to 'nowhere', which does not exist")
        assertRefused(try sh("printf '\\357\\273\\277{\"text\":\"hi\"}\\n' > bom.jsonl; $BLT eval --model M bom.jsonl"), [1],
                      mentions: "bom.jsonl:1: starts with a UTF-8 byte-order mark (EF BB BF)")
        assertRefused(try sh("$BLT eval --model M --shard -1/2 doc.txt"), [1, 64], mentions: "--shard '-1/2' is not I/N")
        assertRefused(try sh("$BLT serve --stdio --model M --context -1 < /dev/null"), [64], mentions: "--context must be 0 or more")
        assertRefused(try sh("$BLT patch --model M --bytes-per-row -3 doc.txt"), [64], mentions: "--bytes-per-row must be between")
    }

    /// Text options keep the bytes the shell passed (not U+FFFD); any other argument that is not
    /// UTF-8 (a file name) is refused by position instead of naming another file.
    func testArgumentsKeepTheirBytes() throws {
        for form in ["--text \"$(printf 'caf\\377')\"", "--text=\"$(printf 'caf\\377')\""] {
            let run = try sh("$BLT patch --model M --json \(form)")
            XCTAssertEqual(run.status, 0, run.stderr)
            let ids = integers(try JSONValue.parse(Data(run.stdout.utf8))["ids"])
            XCTAssertEqual(ids, [1, 0x63 + 4, 0x61 + 4, 0x66 + 4, 0xFF + 4, 2], form)
        }
        let generate = try sh("$BLT generate --model M --max-bytes 0 --json --prompt \"$(printf '\\377')\"")
        XCTAssertEqual(generate.status, 0, generate.stderr)
        XCTAssertEqual(integers(try JSONValue.parse(Data(generate.stdout.utf8))["prompt_ids"]), [1, 0xFF + 4], generate.stdout)
        assertRefused(try sh("printf x > \"$(printf 'caf\\377.txt')\"; $BLT eval --model M \"$(printf 'caf\\377.txt')\""), [64],
                      mentions: "argument 4 ('caf\\xFF.txt') is not valid UTF-8")
    }

    /// eval and sweep read documents through one set of options: a negative number is named (not
    /// "Missing value"), the document limit is a flag, and sweep refuses inputs it could read only once.
    func testEvalAndSweepInputOptions() throws {
        assertRefused(try sh("$BLT eval --model M --batch-bytes -1 doc.txt"), [64], mentions: "--batch-bytes must be 0 or more")
        assertRefused(try sh("$BLT eval --model M --max-document-bytes 0 doc.txt"), [64], mentions: "--max-document-bytes")
        assertRefused(try sh("$BLT eval --model M --max-document-bytes 5 doc.txt"), [1], mentions: "more than 5 bytes")
        XCTAssertEqual(try sh("$BLT eval --model M --max-document-bytes 23 doc.txt").status, 0, "doc.txt holds 23 bytes")
        assertRefused(try sh("echo x | $BLT sweep --model M --thresholds 1,2 -"), [64], mentions: "not standard input")
        assertRefused(try sh("mkfifo pipe; $BLT sweep --model M --thresholds 1,2 pipe"), [1], mentions: "not a regular file")
    }

    /// serve and patch --svg - write standard output through the checked stream: a full disk is an
    /// error (not SIGILL inside FileHandle), and serve takes a read error on its input for one.
    func testStandardOutputOnAFullDiskAndUnreadableInputAreErrors() throws {
        let request = #"{"type": "loglikelihood_rolling", "text": "hi"}"#
        assertRefused(try sh("echo '\(request)' | $BLT serve --stdio --model M >/dev/full"), [1], mentions: "No space left on device")
        assertRefused(try sh("$BLT patch --model M --svg - --text hi >/dev/full"), [1], mentions: "No space left on device")
        assertRefused(try sh("$BLT serve --stdio --model M < /"), [1], mentions: "Is a directory")
        let served = try sh("echo '\(request)' | $BLT serve --stdio --model M")
        XCTAssertEqual(served.status, 0, served.stderr)
        XCTAssertTrue(served.stdout.hasPrefix("{\"loglikelihood\":"), served.stdout)
    }

    /// Outputs are protected by the file they reach, not by their path: in a Hugging Face cache
    /// layout (a snapshot's files are links into blobs/), no output may replace the model's files.
    func testOutputsReachingTheModelThroughLinksAreRefused() throws {
        let files = FileManager.default
        let blobs = work + "/blobs", snapshot = work + "/snap"
        try files.createDirectory(atPath: blobs, withIntermediateDirectories: false)
        try files.createDirectory(atPath: snapshot, withIntermediateDirectories: false)
        try files.copyItem(atPath: model + "/config.json", toPath: blobs + "/cfg")
        try files.copyItem(atPath: model + "/model.safetensors", toPath: blobs + "/w")
        try files.createSymbolicLink(atPath: snapshot + "/config.json", withDestinationPath: "../blobs/cfg")
        try files.createSymbolicLink(atPath: snapshot + "/model.safetensors", withDestinationPath: "../blobs/w")
        let before = try tree(blobs)
        let plain = try sh("$BLT eval --model snap doc.txt")
        XCTAssertEqual(plain.status, 0, "the snapshot is a model: \(plain.stderr)")
        for output in ["--output blobs/cfg", "--per-byte blobs/w", "--svg blobs/cfg", "--output snap/../blobs/w"] {
            assertRefused(try sh("$BLT eval --model snap \(output) doc.txt"), mentions: "same file")
        }
        assertRefused(try sh("$BLT patch --model snap --text hi --svg blobs/w"), mentions: "same file")
        XCTAssertEqual(try tree(blobs), before, "the model's files are untouched")
    }

    // MARK: --output never destroys input

    func testOutputRefusesDirectoriesTheModelAndDevices() throws {
        try FileManager.default.createDirectory(atPath: work + "/D/sub", withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: work + "/D/sub/file"))
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
        XCTAssertEqual(shard.status, 0, shard.stderr)
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
        try Data("unrelated".utf8).write(to: URL(fileURLWithPath: work + "/sb/sibling.txt"))
        let before = try tree(work + "/sb")
        assertRefused(try sh("$BLT convert sb/H sb/H --force"), [1], mentions: "source checkpoint itself")
        assertRefused(try sh("$BLT convert sb/H sb --force"), [1], mentions: "contains the source")
        assertRefused(try sh("$BLT convert sb/H sb/H/out"), [1], mentions: "inside the source")
        assertRefused(try sh("$BLT convert \(hub) . --force", in: hub), [1], mentions: "source checkpoint itself")
        try FileManager.default.createDirectory(atPath: work + "/mine", withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: work + "/mine/notes.txt"))
        assertRefused(try sh("$BLT convert sb/H mine --force"), [1], mentions: "notes.txt")
        assertRefused(try sh("$BLT convert sb/H mine"), [1], mentions: "already exists; pass --force to replace it")
        // Relative names with trailing slashes (Foundation's deletingLastPathComponent traps on "U/").
        for name in ["U/", "./V/", "W//"] {
            let run = try sh("$BLT convert sb/H \(name) && $BLT convert sb/H \(name) --force")
            XCTAssertEqual(run.status, 0, run.stderr)
        }
        let inspected = try sh("$BLT inspect model.safetensors", in: hub)
        XCTAssertEqual(inspected.status, 0, inspected.stderr)
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
        try Data("{\"text\": \"one document\"}\n{\"text\": \"another one\"}\n".utf8).write(to: URL(fileURLWithPath: work + "/docs.jsonl"))
        for i in 0..<2 {
            let run = try sh("$BLT eval --model M --json --per-document --batch-bytes 0 --shard \(i)/2 docs.jsonl > s\(i).json")
            XCTAssertEqual(run.status, 0, run.stderr)
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
        try Data("{\"format\": \"blt-eval/1\"".utf8).write(to: URL(fileURLWithPath: work + "/not-json.json"))
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
        XCTAssertEqual(extreme.status, 0, extreme.stderr)
        XCTAssertTrue(extreme.stdout.contains("\"perplexity_per_byte\" : null"), extreme.stdout)
    }

    func testEvalMergeTellsModelsWithTheSameDirectoryNameApart() throws {
        // Another model in a directory also named M (different patching threshold).
        try FileManager.default.createDirectory(atPath: work + "/other", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-c"), toPath: work + "/other/M")
        let a = try sh("$BLT eval --model M --json --threshold 1.5 --shard 0/2 doc.txt > a.json")
        let b = try sh("$BLT eval --model other/M --json --threshold 1.5 --shard 1/2 doc.txt > b.json")
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        assertRefused(try sh("$BLT eval-merge a.json b.json"), [1], mentions: "different model")
    }

    // MARK: Unclear messages and hangs

    func testClearMessagesForPathsOfTheWrongKind() throws {
        assertRefused(try sh("$BLT eval --model doc.txt doc.txt"), [1], mentions: "is a file, not a model directory")
        XCTAssertEqual(mkfifo(work + "/fifo", 0o600), 0)
        // Was: blocked forever.
        assertRefused(try sh("$BLT inspect fifo", timeout: 20), [1], mentions: "FIFO")
        // A FIFO input (process substitution) is read as a stream, not refused as "no permission".
        let streamed = try sh("(printf 'Names refer to objects.' > fifo &) ; $BLT eval --model M --json fifo", timeout: 30)
        XCTAssertEqual(streamed.status, 0, streamed.stderr)
        XCTAssertTrue(streamed.stdout.contains("\"documents\" : 1"), streamed.stdout)
    }

    func testInspectReportsWhatEvalRejects() throws {
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model + "/config.json"))) as! [String: Any]
        config["encoder_hash_byte_group_size"] = [3, 4, 5, 1_000_000_000_000]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: model + "/config.json"))
        assertRefused(try sh("$BLT inspect M"), [1], mentions: "encoder_hash_byte_group_size")
        // Was: SIGABRT "failed to allocate 8000000000032 bytes".
        assertRefused(try sh("$BLT eval --model M doc.txt"), [1], mentions: "encoder_hash_byte_group_size")
    }

    // MARK: BLT_CPU and BLT_GEMM are honoured or refused

    /// The kernel paths this CPU runs, as the messages list them.
    var supportedPaths: String { KernelPath.supported.map(\.description).joined(separator: ", ") }

    /// A BLT_CPU or BLT_GEMM this CPU cannot honour (an unknown word, a path it cannot run) fails
    /// every command and --version with a message naming what it runs, before anything else.
    func testUnhonourableKernelSettingsAreErrors() throws {
        func assertRefused(_ environment: [String: String], _ arguments: [String], mentions texts: String...,
                           line: UInt = #line) throws {
            let run = try runBLT(arguments, environment: environment)
            XCTAssertEqual(run.status, 1, "\(environment) blt \(arguments): \(run.stderr)", line: line)
            XCTAssertTrue(run.stdout.isEmpty, "\(environment) blt \(arguments) wrote to stdout", line: line)
            for text in texts { XCTAssertTrue(run.stderr.contains(text), "'\(text)' not in: \(run.stderr)", line: line) }
        }
        let doc = work + "/doc.txt", tinyA = Fixtures.path("models/tiny-a")
        let runs = "this CPU runs: \(supportedPaths) (unset BLT_CPU to use the best)"
        try assertRefused(["BLT_CPU": "nonsense", "BLT_GEMM": ""], ["--version"], mentions: "BLT_CPU=\"nonsense\" names no kernel path", runs)
        try assertRefused(["BLT_CPU": "", "BLT_GEMM": "nonsense"], ["eval", "--model", tinyA, doc],
                          mentions: "BLT_GEMM=\"nonsense\" names no many-row backend; this CPU runs: openblas, blocked")
        // Every path this CPU cannot run (none on a CPU with AMX; the unknown words still are checked).
        for path in KernelPath.allCases where !KernelPath.supported.contains(path) {
            try assertRefused(["BLT_CPU": path.description, "BLT_GEMM": ""], ["--version"],
                              mentions: "BLT_CPU=\(path) asks for a kernel path this CPU cannot run", runs)
        }
        // Before anything else: not the missing model's message, nor a subcommand's usage error.
        try assertRefused(["BLT_CPU": "nonsense"], ["eval", "--model", work + "/missing", doc], mentions: runs)
        for subcommand in ["eval", "eval-merge", "generate", "patch", "convert", "inspect", "serve", "bench-kernels"] {
            try assertRefused(["BLT_CPU": "nonsense"], [subcommand], mentions: runs)
        }
    }

    /// --version names the kernel path and the many-row backend that run, as BLT_CPU / BLT_GEMM force them.
    func testVersionNamesTheKernelPathAndBackendThatRun() throws {
        for path in KernelPath.supported {
            let run = try runBLT(["--version"], environment: ["BLT_CPU": path.description, "BLT_GEMM": ""])
            let out = String(decoding: run.stdout, as: UTF8.self)
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(out.contains("kernels: \(path) of \(supportedPaths)\n"), out)
            XCTAssertTrue(out.contains("gemm: openblas (") || out.contains("gemm: blocked ("), out)
        }
        for backend in ManyRowBackend.allCases {
            let run = try runBLT(["--version"], environment: ["BLT_CPU": "", "BLT_GEMM": backend.rawValue])
            let out = String(decoding: run.stdout, as: UTF8.self)
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(out.contains("kernels: \(KernelPath.supported.last!) of "), out)
            XCTAssertTrue(out.contains("gemm: \(backend) (forced by BLT_GEMM; OpenBLAS"), out)
        }
    }
}

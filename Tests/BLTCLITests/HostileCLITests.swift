import Foundation
import XCTest
import TestSupport
import Safetensors
import JSONSupport
@testable import ByteLatent
#if canImport(Glibc)
import Glibc
#endif

/// What the hostile-input tests share: a scratch directory holding a copy of a tiny model and a
/// document, and `blt` run under `sh` with a time limit.
class HostileCLITestCase: ScratchTestCase {
    var work: String { scratch.path }
    /// A copy of a tiny model (`M` in the issue).
    var model: String { work + "/M" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        try FileManager.default.copyItem(atPath: Fixtures.path("models/tiny-b"), toPath: model)
        try writeFile("doc.txt", "Names refer to objects.")
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

    /// Fails unless `run` exited with status 0 (its stderr in the message).
    func assertSucceeded(_ run: Run, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.status, 0, run.stderr, file: file, line: line)
    }

    /// Writes `text` to `name` inside `work`.
    func writeFile(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: work + "/" + name))
    }

    func tree(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for case let name as String in FileManager.default.enumerator(atPath: dir)! {
            if let data = FileManager.default.contents(atPath: dir + "/" + name) { out[name] = data }
        }
        return out
    }
}

/// The reproductions of issue 12, run against the built `blt`: the exit status is 1 or 64 with a
/// message naming the problem, and nothing traps or hangs.
final class HostileCLITests: HostileCLITestCase {
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
        assertSucceeded(run)
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
            assertSucceeded(run)
            let ids = integers(try JSONValue.parse(Data(run.stdout.utf8))["ids"])
            XCTAssertEqual(ids, [1, 0x63 + 4, 0x61 + 4, 0x66 + 4, 0xFF + 4, 2], form)
        }
        let generate = try sh("$BLT generate --model M --max-bytes 0 --json --prompt \"$(printf '\\377')\"")
        assertSucceeded(generate)
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
        assertSucceeded(served)
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

    // MARK: Unclear messages and hangs

    func testClearMessagesForPathsOfTheWrongKind() throws {
        assertRefused(try sh("$BLT eval --model doc.txt doc.txt"), [1], mentions: "is a file, not a model directory")
        XCTAssertEqual(mkfifo(work + "/fifo", 0o600), 0)
        // Was: blocked forever.
        assertRefused(try sh("$BLT inspect fifo", timeout: 20), [1], mentions: "FIFO")
        // A FIFO input (process substitution) is read as a stream, not refused as "no permission".
        let streamed = try sh("(printf 'Names refer to objects.' > fifo &) ; $BLT eval --model M --json fifo", timeout: 30)
        assertSucceeded(streamed)
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
            XCTAssertTrue(["openblas", "blocked", "blocked, attention: openblas"].contains { out.contains("gemm: \($0) (") }, out)
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

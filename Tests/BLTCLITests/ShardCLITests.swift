import Foundation
import XCTest
import TestSupport

/// `blt eval --shard auto` end to end: the scheduler's variables give the shard the explicit
/// `--shard I/N` gives, and every missing or contradictory combination is an error naming the flags.
final class ShardCLITests: XCTestCase {
    /// The variables Slurm sets in a task of `--array=min-max` (step 1) or of a list.
    func slurm(id: Int, min: Int, max: Int, count: Int) -> [String: String] {
        ["SLURM_ARRAY_TASK_ID": "\(id)", "SLURM_ARRAY_TASK_MIN": "\(min)", "SLURM_ARRAY_TASK_MAX": "\(max)",
         "SLURM_ARRAY_TASK_COUNT": "\(count)", "SLURM_ARRAY_JOB_ID": "41", "SLURM_JOB_ID": "43"]
    }

    /// The command line: --shard auto scores exactly the shard --shard I/N scores, says where it came
    /// from on stderr, and turns every error into one message naming what to pass.
    func testEvalShardAutoOnTheCommandLine() throws {
        let model = try XCTUnwrap(Fixtures.modelDirectories.first)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("blt-shard-auto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let jsonl = scratch.appendingPathComponent("docs.jsonl")
        let lines = (0..<9).map { #"{"text": "document \#($0): names refer to objects"}"# }
        try Data(lines.joined(separator: "\n").utf8).write(to: jsonl)
        let settings = ["eval", "--model", model, "--json", "--batch-bytes", "0", jsonl.path]

        func sums(_ run: BLTRun) throws -> NSDictionary {
            XCTAssertEqual(run.status, 0, run.stderr)
            var sums = try XCTUnwrap((try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any])?["sums"] as? [String: Any])
            sums["seconds"] = nil
            return NSDictionary(dictionary: sums)
        }
        let explicit = try sums(try runBLT(settings + ["--shard", "1/3"]))
        let slurmRun = try runBLT(settings + ["--shard", "auto"], environment: slurm(id: 2, min: 1, max: 3, count: 3))
        XCTAssertEqual(try sums(slurmRun), explicit)
        XCTAssertTrue(slurmRun.stderr.contains("shard 1/3 from the Slurm array task (SLURM_ARRAY_TASK_ID=2, SLURM_ARRAY_TASK_MIN=1"), slurmRun.stderr)
        let kubernetesRun = try runBLT(settings + ["--shard", "auto", "--shard-count", "3"], environment: ["JOB_COMPLETION_INDEX": "1"])
        XCTAssertEqual(try sums(kubernetesRun), explicit)
        XCTAssertTrue(kubernetesRun.stderr.contains("shard 1/3 from the Kubernetes Indexed Job"), kubernetesRun.stderr)

        let errors: [(arguments: [String], environment: [String: String], message: String)] = [
            (["--shard", "auto"], ["JOB_COMPLETION_INDEX": "1"], "pass --shard-count N with the Job's completions"),
            (["--shard", "auto", "--shard-count", "3"], ["JOB_COMPLETION_INDEX": "1", "SLURM_ARRAY_TASK_ID": "1"], "both a Slurm array task"),
            (["--shard", "auto"], ["SLURM_ARRAY_TASK_ID": "1"], "SLURM_ARRAY_TASK_MIN is not set"),
            (["--shard", "auto", "--shard-count", "4"], slurm(id: 1, min: 1, max: 4, count: 4), "--shard auto: the array's task IDs run to 4"),
            (["--shard", "auto"], slurm(id: 7, min: 3, max: 7, count: 2), "not one contiguous range (SLURM_ARRAY_TASK_MIN=3"),
            (["--shard", "auto"], slurm(id: 7, min: 3, max: 7, count: 2), "pass --shard-count N"),
            (["--shard", "1/3", "--shard-count", "3"], [:], "--shard-count goes with --shard auto"),
        ]
        for (arguments, environment, message) in errors {
            let run = try runBLT(settings + arguments, environment: environment)
            XCTAssertNotEqual(run.status, 0, "\(arguments) \(environment)")
            XCTAssertTrue(run.stderr.contains(message), "\(arguments) \(environment): \(run.stderr)")
            XCTAssertEqual(run.stdout.count, 0)
        }
    }
}

import Foundation
import XCTest
import TestSupport
@testable import ByteLatent
@testable import ByteLatentEval

/// `blt eval --shard auto`: the shard from a Slurm array task's or a Kubernetes Indexed Job's
/// variables (`ScheduledShard`), and every missing or contradictory combination as an error.
final class SchedulerShardTests: XCTestCase {
    /// The variables Slurm sets in a task of `--array=min-max` (step 1) or of a list.
    func slurm(id: Int, min: Int, max: Int, count: Int) -> [String: String] {
        ["SLURM_ARRAY_TASK_ID": "\(id)", "SLURM_ARRAY_TASK_MIN": "\(min)", "SLURM_ARRAY_TASK_MAX": "\(max)",
         "SLURM_ARRAY_TASK_COUNT": "\(count)", "SLURM_ARRAY_JOB_ID": "41", "SLURM_JOB_ID": "43"]
    }

    func shard(_ environment: [String: String], count: Int? = nil) throws -> Shard {
        try ScheduledShard(environment: environment, count: count).shard
    }

    func assertError(_ environment: [String: String], count: Int? = nil, _ expected: SchedulerShardError,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ScheduledShard(environment: environment, count: count), file: file, line: line) { error in
            XCTAssertEqual(error as? SchedulerShardError, expected, file: file, line: line)
        }
    }

    func assertContradiction(_ environment: [String: String], count: Int? = nil, mentioning words: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ScheduledShard(environment: environment, count: count), file: file, line: line) { error in
            guard case .contradictory(let message)? = error as? SchedulerShardError else {
                return XCTFail("expected a contradiction, got \(error)", file: file, line: line)
            }
            for word in words { XCTAssertTrue(message.contains(word), "\(message) should mention \(word)", file: file, line: line) }
        }
    }

    func testSlurmArrayTaskIsTheShardCountedFromTheArraysFirstIndex() throws {
        for i in 0..<4 { XCTAssertEqual(try shard(slurm(id: i, min: 0, max: 3, count: 4)), Shard(index: i, count: 4)) }
        // --array=1-16: SLURM_ARRAY_TASK_MIN is respected, so task 1 is shard 0 and task 16 is shard 15.
        XCTAssertEqual(try shard(slurm(id: 1, min: 1, max: 16, count: 16)), Shard(index: 0, count: 16))
        XCTAssertEqual(try shard(slurm(id: 16, min: 1, max: 16, count: 16)), Shard(index: 15, count: 16))
        let scheduled = try ScheduledShard(environment: slurm(id: 2, min: 0, max: 3, count: 4))
        XCTAssertEqual(scheduled.scheduler, .slurmArray)
        XCTAssertEqual(scheduled.description, "shard 2/4 from the Slurm array task (SLURM_ARRAY_TASK_ID=2, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_MAX=3, SLURM_ARRAY_TASK_COUNT=4)")
    }

    func testSlurmWithACountTakesTaskIDsAsShardIndicesSoRerunsKeepTheirShard() throws {
        XCTAssertEqual(try shard(slurm(id: 2, min: 0, max: 3, count: 4), count: 4), Shard(index: 2, count: 4))
        // `sbatch --array=2` reruns task 2 alone: an array of one task, which is still shard 2 of 4.
        XCTAssertEqual(try shard(slurm(id: 2, min: 2, max: 2, count: 1), count: 4), Shard(index: 2, count: 4))
        XCTAssertEqual(try shard(slurm(id: 7, min: 3, max: 7, count: 2), count: 16), Shard(index: 7, count: 16))
        // Without the count the same rerun does not say which run it belongs to (a list is refused; a
        // contiguous rerun would be a different split, which eval-merge refuses by its shard count).
        assertError(slurm(id: 7, min: 3, max: 7, count: 2), .notOneRange(minimum: 3, maximum: 7, tasks: 2))
        assertError(slurm(id: 4, min: 0, max: 6, count: 4), .notOneRange(minimum: 0, maximum: 6, tasks: 4))   // --array=0-6:2
        // Task IDs beyond the count: --array=1-16 with a count of 16 fails in every task, not only task 16.
        assertContradiction(slurm(id: 1, min: 1, max: 16, count: 16), count: 16, mentioning: ["run to 16", "--array=0-15"])
        assertContradiction(slurm(id: 0, min: 0, max: 7, count: 8), count: 4, mentioning: ["run to 7", "0…3"])
    }

    func testKubernetesIndexedJobNeedsTheCount() throws {
        XCTAssertEqual(try shard(["JOB_COMPLETION_INDEX": "3"], count: 8), Shard(index: 3, count: 8))
        let scheduled = try ScheduledShard(environment: ["JOB_COMPLETION_INDEX": "0"], count: 2)
        XCTAssertEqual(scheduled.scheduler, .kubernetesIndexedJob)
        XCTAssertEqual(scheduled.description, "shard 0/2 from the Kubernetes Indexed Job (JOB_COMPLETION_INDEX=0, count=2)")
        assertError(["JOB_COMPLETION_INDEX": "3"], .countNeeded(index: 3))
        assertContradiction(["JOB_COMPLETION_INDEX": "8"], count: 8, mentioning: ["JOB_COMPLETION_INDEX=8", "0…7"])
        assertContradiction(["JOB_COMPLETION_INDEX": "-1"], count: 8, mentioning: ["JOB_COMPLETION_INDEX=-1"])
    }

    func testMissingAndContradictoryVariablesAreErrors() {
        assertError([:], .noScheduler(slurmJobID: nil))
        assertError(["SLURM_JOB_ID": "43", "PATH": "/bin"], .noScheduler(slurmJobID: "43"))
        assertError(slurm(id: 1, min: 0, max: 3, count: 4).merging(["JOB_COMPLETION_INDEX": "1"]) { a, _ in a },
                    .bothSchedulers(slurm: "SLURM_ARRAY_TASK_ID=1, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_MAX=3, SLURM_ARRAY_TASK_COUNT=4",
                                    kubernetes: "JOB_COMPLETION_INDEX=1"))
        for name in ScheduledShard.slurmVariables {
            var environment = slurm(id: 1, min: 0, max: 3, count: 4)
            environment[name] = nil
            assertError(environment, .missing(name, scheduler: .slurmArray))
            environment[name] = "two"
            assertError(environment, .notAnInteger(name: name, value: "two"))
        }
        assertError(["JOB_COMPLETION_INDEX": ""], count: 2, .notAnInteger(name: "JOB_COMPLETION_INDEX", value: ""))
        assertContradiction(slurm(id: 5, min: 0, max: 3, count: 4), mentioning: ["SLURM_ARRAY_TASK_ID=5", "MIN…MAX"])
        assertContradiction(slurm(id: 1, min: 0, max: 3, count: 5), mentioning: ["SLURM_ARRAY_TASK_COUNT=5"])
        assertContradiction(slurm(id: 1, min: 0, max: 3, count: 4), count: 0, mentioning: ["shard count of 0"])
        assertContradiction(["JOB_COMPLETION_INDEX": "1"], count: EvalSummary.maxShardCount + 1, mentioning: ["outside 1…"])
        // The library speaks of the shard count, never of the command line's options.
        XCTAssertFalse("\(SchedulerShardError.countNeeded(index: 3))".contains("--shard"))
    }
}

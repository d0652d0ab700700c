import ByteLatentEval
import Foundation

extension EvalCommand {
    /// The shard of --shard I/N, or of --shard auto: read from the scheduler's variables and named on
    /// stderr, so a job's log says which shard it ran and why.
    func resolvedShard(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard {
        guard let shard else { return .whole }
        guard shard == "auto" else { return try Shard(parsing: shard) }
        let scheduled: ScheduledShard
        do {
            scheduled = try ScheduledShard(environment: environment, count: shardCount)
        } catch SchedulerShardError.noScheduler(nil) {
            throw CommandError("--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm array task) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; run it as an array task or an Indexed Job, or pass --shard I/N")
        } catch SchedulerShardError.countNeeded(let index) {
            throw CommandError("--shard auto: JOB_COMPLETION_INDEX=\(index) (a Kubernetes Indexed Job) gives the shard index but not how many shards there are; pass --shard-count N with the Job's completions")
        } catch SchedulerShardError.notOneRange(let minimum, let maximum, let tasks) {
            throw CommandError("--shard auto: the array is not one contiguous range (SLURM_ARRAY_TASK_MIN=\(minimum), SLURM_ARRAY_TASK_MAX=\(maximum), SLURM_ARRAY_TASK_COUNT=\(tasks): a step or a list, such as a rerun of some tasks), so its tasks do not number the shards of a run; pass --shard-count N (the whole run's shards), and the task IDs are taken as shard indices")
        } catch let error as SchedulerShardError {
            throw CommandError("--shard auto: \(error)")
        }
        StandardStreams.error("blt eval: \(scheduled)\n")
        return scheduled.shard
    }
}

/// The scheduler a shard was read from.
public enum ShardScheduler: String, Sendable, Equatable {
    case slurmArray = "Slurm array task"
    case kubernetesIndexedJob = "Kubernetes Indexed Job"
}

/// A shard read from the environment a scheduler gives each of its tasks, with the variables it came from.
///
/// - Slurm array job: shard (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) of SLURM_ARRAY_TASK_COUNT, so
///   `--array=0-15` and `--array=1-16` both make shards 0…15 of 16. That needs the array to be one
///   contiguous range; a rerun of some tasks (`--array=3,7`) is not, and says nothing of the whole run.
///   With a `count`, the task IDs themselves are the shard indices instead (so a rerun of task 3 is
///   shard 3 again) and must all be below the count.
/// - Kubernetes Indexed Job: shard JOB_COMPLETION_INDEX of `count` (the Job's completions, which the
///   pod's environment does not carry).
public struct ScheduledShard: Sendable, Equatable, CustomStringConvertible {
    public var shard: Shard
    public var scheduler: ShardScheduler
    /// "NAME=value" of every variable the shard was computed from.
    public var variables: [String]

    public var description: String { "shard \(shard) from the \(scheduler.rawValue) (\(variables.joined(separator: ", ")))" }

    static let slurmVariables = ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT"]
    static let kubernetesVariable = "JOB_COMPLETION_INDEX"

    /// Reads the shard from `environment` (a process's environment); `count` is the number of shards when
    /// the caller knows it (required for Kubernetes).
    public init(environment: [String: String], count: Int? = nil) throws {
        if let count, count < 1 || count > EvalSummary.maxShardCount {
            throw SchedulerShardError.contradictory("a shard count of \(count) is outside 1…\(EvalSummary.maxShardCount)")
        }
        let slurm = Self.slurmVariables.filter { environment[$0] != nil }
        let kubernetes = environment[Self.kubernetesVariable]
        switch (slurm.isEmpty, kubernetes) {
        case (true, nil):
            throw SchedulerShardError.noScheduler(slurmJobID: environment["SLURM_JOB_ID"])
        case (false, let index?):
            throw SchedulerShardError.bothSchedulers(slurm: slurm.map { "\($0)=\(environment[$0]!)" }.joined(separator: ", "),
                                                     kubernetes: "\(Self.kubernetesVariable)=\(index)")
        case (true, _?):
            try self.init(kubernetes: environment, count: count)
        case (false, nil):
            try self.init(slurm: environment, count: count)
        }
    }

    private init(slurm environment: [String: String], count: Int?) throws {
        let values = try Self.slurmVariables.map { try Self.integer($0, in: environment, scheduler: .slurmArray) }
        let (id, minimum, maximum, tasks) = (values[0], values[1], values[2], values[3])
        let named = zip(Self.slurmVariables, values).map { "\($0)=\($1)" }
        guard minimum >= 0, minimum <= id, id <= maximum, tasks >= 1, tasks <= maximum - minimum + 1 else {
            throw SchedulerShardError.contradictory("\(named.joined(separator: ", ")) do not describe a task of one array (the ID must lie in MIN…MAX, which holds at least COUNT tasks)")
        }
        let shard: Shard
        if let count {
            guard maximum < count else {
                throw SchedulerShardError.contradictory("the array's task IDs run to \(maximum) (SLURM_ARRAY_TASK_MAX), but with a shard count of \(count) a task ID is a shard index, 0…\(count - 1); submit the array as sbatch --array=0-\(count - 1) and rerun single tasks with sbatch --array=K")
            }
            shard = Shard(index: id, count: count)
        } else {
            guard maximum - minimum + 1 == tasks else { throw SchedulerShardError.notOneRange(minimum: minimum, maximum: maximum, tasks: tasks) }
            guard tasks <= EvalSummary.maxShardCount else {
                throw SchedulerShardError.contradictory("SLURM_ARRAY_TASK_COUNT=\(tasks) is more than \(EvalSummary.maxShardCount) shards")
            }
            shard = Shard(index: id - minimum, count: tasks)
        }
        self.init(shard: shard, scheduler: .slurmArray, variables: named + (count.map { ["count=\($0)"] } ?? []))
    }

    private init(kubernetes environment: [String: String], count: Int?) throws {
        let index = try Self.integer(Self.kubernetesVariable, in: environment, scheduler: .kubernetesIndexedJob)
        guard let count else { throw SchedulerShardError.countNeeded(index: index) }
        guard index >= 0, index < count else {
            throw SchedulerShardError.contradictory("\(Self.kubernetesVariable)=\(index) is not a shard index of a count of \(count) (0…\(count - 1)); the count must be the Indexed Job's completions")
        }
        self.init(shard: Shard(index: index, count: count), scheduler: .kubernetesIndexedJob,
                  variables: ["\(Self.kubernetesVariable)=\(index)", "count=\(count)"])
    }

    private init(shard: Shard, scheduler: ShardScheduler, variables: [String]) {
        self.shard = shard
        self.scheduler = scheduler
        self.variables = variables
    }

    private static func integer(_ name: String, in environment: [String: String], scheduler: ShardScheduler) throws -> Int {
        guard let text = environment[name] else { throw SchedulerShardError.missing(name, scheduler: scheduler) }
        guard let value = Int(text) else { throw SchedulerShardError.notAnInteger(name: name, value: text) }
        return value
    }
}

/// Why the environment names no single shard.
public enum SchedulerShardError: Error, CustomStringConvertible, Equatable {
    /// No scheduler variable is set (`slurmJobID`: inside a Slurm job that is not an array).
    case noScheduler(slurmJobID: String?)
    /// Variables of a Slurm array task and of a Kubernetes Indexed Job are both set.
    case bothSchedulers(slurm: String, kubernetes: String)
    /// A variable the scheduler sets for every task is missing.
    case missing(String, scheduler: ShardScheduler)
    case notAnInteger(name: String, value: String)
    /// A Kubernetes index gives the shard but not the count.
    case countNeeded(index: Int)
    /// A Slurm array with a step or a list (a rerun of some tasks) does not number the shards by itself.
    case notOneRange(minimum: Int, maximum: Int, tasks: Int)
    /// The variables (with the count, if given) do not describe one shard.
    case contradictory(String)

    public var description: String {
        switch self {
        case .noScheduler(let jobID?):
            return "Slurm job \(jobID) is not an array job (SLURM_ARRAY_TASK_ID is not set), so it has no shard; submit it as an array job (sbatch --array)"
        case .noScheduler(nil):
            return "no scheduler shard: neither SLURM_ARRAY_TASK_ID (a Slurm array task) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set"
        case .bothSchedulers(let slurm, let kubernetes):
            return "both a Slurm array task (\(slurm)) and a Kubernetes Indexed Job (\(kubernetes)) are in the environment; unset the variables of the one that does not apply"
        case .missing(let name, let scheduler):
            return "\(name) is not set, but the \(scheduler.rawValue) sets it for every task; is the environment complete?"
        case .notAnInteger(let name, let value):
            return "\(name)='\(value)' is not an integer"
        case .countNeeded(let index):
            return "JOB_COMPLETION_INDEX=\(index) (a Kubernetes Indexed Job) gives the shard index but not how many shards there are; give the shard count (the Job's completions)"
        case .notOneRange(let minimum, let maximum, let tasks):
            return "the array is not one contiguous range (SLURM_ARRAY_TASK_MIN=\(minimum), SLURM_ARRAY_TASK_MAX=\(maximum), SLURM_ARRAY_TASK_COUNT=\(tasks): a step or a list, such as a rerun of some tasks), so its tasks do not number the shards of a run; give the shard count, and the task IDs are taken as shard indices"
        case .contradictory(let message):
            return message
        }
    }
}

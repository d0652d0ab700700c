import ArgumentParser
import ByteLatent
import Foundation

/// A shard output that could not be read.
struct ShardFileError: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "cannot use '\(path)': \(reason)" }
}

struct EvalMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-merge",
        abstract: "Combine the JSON outputs of sharded `blt eval` runs into the figures of one run.",
        discussion: """
        Each input is the JSON object of `blt eval --json --shard I/N` (or --output FILE). The \
        exact sums are added, so the merged counts and NLL equal those of a single unsharded run; \
        seconds is the sum over shards (so bytes_per_second is per worker). All shards must come \
        from the same settings, and every shard 0..<N must be present unless --allow-partial.

        Example: blt eval-merge --json parts/*.json > total.json
        """)

    @Argument(help: "Shard outputs (JSON files written by `blt eval --json`).")
    var files: [String] = []

    @Flag(name: .long, help: "Print one JSON object instead of the report.")
    var json = false

    @Flag(name: .customLong("allow-partial"), help: "Merge even when some shards are missing (the output says which are present).")
    var allowPartial = false

    @Option(name: .long, help: "Write the merged JSON object to this file.")
    var output: String?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give the JSON files of the shards to merge") }
    }

    func run() throws {
        let parts = try files.map { path -> EvalSummary in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ShardFileError(path: path, reason: "no such file, or it is not readable")
            }
            do { return try EvalSummary.decode(data) } catch {
                throw ShardFileError(path: path, reason: "not the JSON output of `blt eval --json` (\(error))")
            }
        }
        let merged = try EvalSummary.merge(parts, names: files, allowPartial: allowPartial)
        let data = try merged.jsonData()
        if let output {
            do { try data.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                throw CommandError("cannot write '\(output)': \(error.localizedDescription)")
            }
        }
        if json {
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            print(EvalCommand.report(merged, window: merged.settings.window))
        }
    }
}

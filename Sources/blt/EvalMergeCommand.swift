import ArgumentParser
import ByteLatent
import ByteLatentEval
import Foundation
#if canImport(Glibc)
import Glibc
#endif

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

    /// Largest shard file read (per-document lists of millions of documents stay far below it).
    static let maxFileBytes = 4 << 30

    func validate() throws {
        if files.isEmpty { throw ValidationError("give the JSON files of the shards to merge") }
        if let output { _ = try OutputPath(output, protecting: files.map { ($0, "the shard file") }) }
    }

    func run() throws {
        // The result may not replace one of the shard files it is made from.
        let outputPath = try output.map { try OutputPath($0, protecting: files.map { ($0, "the shard file") }) }
        let parts = try files.map { path -> EvalSummary in
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) > Self.maxFileBytes {
                throw ShardFileError(path: path, reason: "it is \(formatBytes(Int(info.st_size))), larger than any `blt eval --json` output (limit \(formatBytes(Self.maxFileBytes)))")
            }
            let data: [UInt8]
            do { data = try readInput(path, limit: Self.maxFileBytes) } catch let error as CommandError {
                throw ShardFileError(path: path, reason: error.description)
            }
            do { return try EvalSummary.load(Data(data), source: path) } catch let error as EvalSummary.LoadError {
                throw FlagWording.reworded(error)
            }
        }
        let merged = try EvalSummary.merge(parts, names: files, allowPartial: allowPartial)
        let data = try merged.jsonData()
        try outputPath?.write(data)
        if json {
            try StandardStreams.write(data + Data("\n".utf8))
        } else {
            try printLine(EvalCommand.report(merged, window: merged.settings.window))
        }
        try StandardStreams.flush()
    }
}

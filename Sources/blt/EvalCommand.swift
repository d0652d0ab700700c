import ArgumentParser
import ByteLatent
import ByteLatentPlots
import ByteLatentEval
import Foundation

/// A model directory that could not be loaded, with the loader's reason.
struct ModelLoadError: Error, CustomStringConvertible {
    var path: String
    var underlying: Error
    var description: String {
        if case BLTError.modelDirectoryNotFound = underlying { return "\(underlying)" }
        // Not the directory's fault: the process cannot run any model this size.
        if underlying is AddressSpaceError { return "cannot run '\(path)' here: \(underlying)" }
        return "'\(path)' is not a usable BLT model directory: \(underlying)"
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Bits per byte of a BLT model on files, JSONL documents or standard input.",
        discussion: """
        Each document is encoded as BOS + bytes + EOS; every id after the BOS is a target and \
        bits per byte = Σ NLL / ln 2 / targets (the EOS counts as a byte). Patches come from the \
        model's entropy model. A document of up to --window ids (bytes + BOS + EOS) is scored in \
        one forward pass; a longer one in windows: non-overlapping by default, or each target with \
        at least --context bytes of history (see Docs/eval.md). Consecutive documents and windows \
        are packed into forward passes of up to --batch-bytes ids, each scored as if alone.

        Inputs: a plain file is one document (any bytes); a .jsonl file holds one document per \
        line in the field --field; '-' reads standard input (plain, or --format jsonl). Empty \
        documents are skipped and counted.

        Examples:
          blt eval --model Models/blt-1b book.txt
          blt eval --model Models/blt-1b --json --per-document val.jsonl
          blt eval --model Models/blt-1b --json --shard 3/8 --output part3.json val.jsonl
          blt eval --model Models/blt-1b --json --shard auto --output part.json val.jsonl   (in a Slurm array task)
          blt eval --model Models/blt-tiny --per-byte bytes.jsonl --svg sample.svg Models/sample.txt

        --per-byte FILE.jsonl writes one line per document with every target's id, byte, surprisal \
        (bits) under the model, the entropy model's entropy (nats) and whether a patch starts there; \
        --svg FILE draws surprisal and entropy of a single document (see Docs/visualize.md). Both \
        files replace FILE only once the run completes.
        """)

    @Option(name: .long, help: "Model directory (config.json + model.safetensors).")
    var model: String

    @Argument(help: "Input files ('-' for standard input).")
    var inputs: [String] = []

    @Option(name: .long, help: Precision.help)
    var precision: Precision = .float32

    @OptionGroup var documents: EvalInputOptions

    @OptionGroup var patchingOptions: PatchingOptions

    @Option(name: .long, parsing: .unconditional, help: "Score every N-th group of passes starting at I, given as I/N; or auto: the shard of this Slurm array task or Kubernetes Indexed Job (see Docs/eval.md).")
    var shard: String?

    @Option(name: .customLong("shard-count"), parsing: .unconditional, help: "With --shard auto: the number of shards (needed for a Kubernetes Indexed Job; with Slurm the task IDs are then the shard indices, so a rerun task keeps its shard).")
    var shardCount: Int?

    @Flag(name: .long, help: "Print one JSON object (the input of `blt eval-merge`).")
    var json = false

    @Flag(name: .customLong("per-document"), help: "Also list each document's name, targets and bits per byte.")
    var perDocument = false

    @Option(name: .long, help: "Write the JSON object to this file (written only when the run completes).")
    var output: String?

    @Option(name: .customLong("per-byte"), help: "Write every target's surprisal, entropy and patch start to this JSONL file, one line per document.")
    var perByte: String?

    @Option(name: .long, help: "Draw the surprisal and entropy of the (single) document as an SVG file.")
    var svg: String?

    @Option(name: .customLong("bytes-per-row"), parsing: .unconditional, help: "Bytes per row of the --svg plot; longer documents wrap onto more rows.")
    var bytesPerRow = 64

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one input file ('-' for standard input)") }
        if inputs.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input ('-') can be read only once") }
        if bytesPerRow < PlotLayout.minimumBytesPerRow || bytesPerRow > 100_000 {
            throw ValidationError("--bytes-per-row must be between \(PlotLayout.minimumBytesPerRow) and 100000")
        }
        if let perByte, perByte == svg || perByte == output { throw ValidationError("--per-byte needs a file of its own") }
        if let svg, svg == output { throw ValidationError("--svg needs a file of its own") }
        if shardCount != nil, shard != "auto" { throw ValidationError("--shard-count goes with --shard auto (an explicit --shard I/N already names the count)") }
        if let output { _ = try OutputPath(output, protecting: outputProtects) }
    }

    /// What --output may not replace: the model directory and the input files.
    var outputProtects: [(path: String, label: String)] {
        [(model, "the model directory")] + inputs.filter { $0 != "-" }.map { ($0, "the input") }
    }

    func run() throws {
        let shard = try resolvedShard()
        let reader = documents.reader(inputs)
        try reader.checkInputs()
        if inputs.contains("-"), StandardStreams.inputClosed {
            throw CommandError("standard input is closed; pipe the documents in, or pass files instead of '-'")
        }
        let outputPath = try output.map { try OutputPath($0, protecting: outputProtects) }
        let perByteFile = try perByte.map { try OutputFile(path: $0, option: "--per-byte", inputs: inputs + [model]) }
        let svgFile = try svg.map { try OutputFile(path: $0, option: "--svg", inputs: inputs + [model]) }
        var drawn: (document: Document, scores: ByteScores)?
        let loaded = try loadModel(model, precision: precision)
        let evaluator = try Evaluator(model: loaded, options: documents.evalOptions(
            patching: try patchingOptions.scheme(for: loaded), keepPerDocument: perDocument))

        let bar = ProgressBar(total: reader.totalInputBytes(), unit: "B", label: "eval")
        let summary: EvalSummary
        do {
            summary = try evaluator.run(reader, shard: shard, progress: { bar.update($0.inputBytesDone) }, badLine: { line in
                bar.finish()
                StandardStreams.error("warning: skipped \(line.file):\(line.line): \(FlagWording.lineReason(line.reason))\n")
            }, byteScores: perByteFile == nil && svgFile == nil ? nil : { document, scores in
                try perByteFile?.write(scores.jsonLine(document: document.name, index: document.ordinal) + "\n")
                if svgFile != nil {
                    if let first = drawn?.document {
                        throw CommandError("--svg draws one document, but the input holds more than one ('\(first.name)', '\(document.name)', …); pass a single document (e.g. one JSONL line in a file of its own)")
                    }
                    drawn = (document, scores)
                }
            })
        } catch {
            bar.finish()
            throw error
        }
        bar.finish()
        // A shard may legitimately hold no document; a whole run that scored nothing is a mistake.
        if shard == .whole, summary.sums.documents == 0 {
            throw CommandError("nothing to score: the input holds no non-empty document (\(plural(summary.sums.skippedEmpty, "empty document")) skipped)")
        }

        if let svgFile {
            guard let drawn else { throw CommandError("--svg: no document was scored, so there is nothing to draw") }
            let plot = PatchPlot.surprisal(drawn.scores, threshold: evaluator.threshold, modelName: loaded.name, 
                                           documentName: URL(fileURLWithPath: drawn.document.name).lastPathComponent)
            try svgFile.write(try plot.svg(layout: PlotLayout(bytesPerRow: bytesPerRow)))
            try svgFile.commit()
        }
        try perByteFile?.commit()
        let data = try summary.jsonData()
        try outputPath?.write(data)
        if json {
            try StandardStreams.write(data + Data("\n".utf8))
        } else {
            try printLine(Self.report(summary, window: evaluator.window))
        }
        try StandardStreams.flush()
    }

    static func number(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (value < 0 ? "-" : "") + out
    }

    static func fixed(_ value: Double, _ places: Int) -> String { String(format: "%.\(places)f", value) }

    /// The human-readable report.
    static func report(_ s: EvalSummary, window: Int) -> String {
        let sums = s.sums
        var lines: [String] = []
        func row(_ name: String, _ value: String) { lines.append(name.padding(toLength: 18, withPad: " ", startingAt: 0) + value) }
        if sums.targets > 0 {
            var bpb = fixed(s.bitsPerByte, 4)
            if let se = s.bitsPerByteStandardError { bpb += " ± \(fixed(se, 4)) (standard error over \(s.standardErrorMethod))" }
            row("bits per byte", bpb)
            row("perplexity/byte", fixed(s.perplexityPerByte, 4))
            row("nll", "\(fixed(s.nllNats, 3)) nats over \(number(sums.targets)) targets")
        } else {
            row("bits per byte", "n/a (nothing scored)")
        }
        var documents = "\(number(sums.documents)) scored"
        if sums.skippedEmpty > 0 { documents += ", \(number(sums.skippedEmpty)) empty skipped" }
        if sums.skippedBadLines > 0 { documents += ", \(plural(sums.skippedBadLines, "bad line")) skipped" }
        if s.shardCount > 1 { documents += " (shard\(s.shards.count > 1 ? "s" : "") \(s.shards.map(String.init).joined(separator: ",")) of \(s.shardCount))" }
        row("documents", documents)
        row("bytes", "\(number(sums.bytes)) (+\(plural(sums.targets - sums.bytes, "EOS target")))")
        if sums.patches > 0 { row("patches", "\(number(sums.patches)) (\(fixed(s.meanPatchBytes, 2)) bytes per patch)") }
        row("windows", "\(number(sums.windows)) window\(sums.windows == 1 ? "" : "s") of up to \(number(window)) ids, context \(s.settings.context)")
        let rate = s.bytesPerSecond.rounded()
        row("time", "\(fixed(sums.seconds, 2)) s, \(rate.isFinite && abs(rate) < 9e18 ? number(Int(rate)) : fixed(rate, 0)) bytes/s")
        if let flops = s.flopsPerSecond, let weights = s.weightBytesPerSecond {
            row("throughput", throughput(bytesPerSecond: s.bytesPerSecond, flopsPerSecond: flops, weightBytesPerSecond: weights))
        }
        if let documents = s.perDocument, !documents.isEmpty {
            lines.append("")
            lines.append("bits/byte  targets  document")
            for d in documents {
                lines.append(fixed(d.bitsPerByte, 4).padding(toLength: 11, withPad: " ", startingAt: 0)
                             + String(d.targets).padding(toLength: 9, withPad: " ", startingAt: 0) + d.name)
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// "6,163 bytes/s, 12.3 GFLOP/s, 4.5 GB/s of weights": what `blt eval` and `blt generate` report.
func throughput(bytesPerSecond: Double, flopsPerSecond: Double, weightBytesPerSecond: Double) -> String {
    let rate = bytesPerSecond.rounded()
    let bytes = bytesPerSecond < 100 ? EvalCommand.fixed(bytesPerSecond, 1)
        : rate.isFinite && rate < 9e18 ? EvalCommand.number(Int(rate)) : EvalCommand.fixed(rate, 0)
    return "\(bytes) bytes/s, \(rounded(flopsPerSecond / 1e9)) GFLOP/s, \(rounded(weightBytesPerSecond / 1e9)) GB/s of weights"
}

/// Three significant digits at most, at least one decimal below 100 ("0.0123", "4.50", "12.3", "481").
private func rounded(_ value: Double) -> String {
    guard value.isFinite, value > 0 else { return EvalCommand.fixed(value, 1) }
    let places = max(0, 2 - Int(floor(log10(value))))
    return EvalCommand.fixed(value, places)
}

/// "1 bad line", "3 bad lines".
func plural(_ count: Int, _ noun: String) -> String { "\(EvalCommand.number(count)) \(noun)\(count == 1 ? "" : "s")" }

import ArgumentParser
import ByteLatent
import ByteLatentPlots
import ByteLatentEval
import Safetensors
import Foundation
import JSONSupport

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Score the same documents under several patching settings: bits per byte, bytes per patch, FLOPs per byte.",
        discussion: """
        One row per setting: each is exactly what `blt eval` with the same flags gives (bits per \
        byte ± standard error, patches), plus inference FLOPs per scored byte for the entropy \
        model, local encoder, global transformer and local decoder (counted from the config's \
        shapes and the actual patches; formula in Docs/patching.md) and the seconds it took. The \
        entropy model runs once per forward pass and its entropies serve every setting, so the \
        first row's seconds include it and later rows' do not.

        Settings: --thresholds for the entropy, monotonic and entropy+monotonic rules, or \
        --patch-sizes for topk and static; the rule comes from --patching (default: config.json's).

        Examples:
          blt sweep --model Models/blt-tiny --thresholds 0.6,1.0,1.335,2.0,3.0 Models/sample.txt
          blt sweep --model Models/blt-tiny --patching static --patch-sizes 2,4,6,8 --svg sweep.svg Models/sample.txt
        """)

    @Option(name: .long, help: "Model directory (config.json + model.safetensors).")
    var model: String

    @Argument(help: "Input files ('-' for standard input), as blt eval reads them.")
    var inputs: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "Comma-separated entropy thresholds (nats), one setting each.")
    var thresholds: String?

    @Option(name: .customLong("patch-sizes"), parsing: .unconditional, help: "Comma-separated patch sizes for --patching topk or static, one setting each.")
    var patchSizes: String?

    @OptionGroup var documents: EvalInputOptions

    @OptionGroup var patchingOptions: PatchingOptions

    @Option(name: .long, help: Precision.help)
    var precision: Precision = .float32

    @Flag(name: .long, help: "Print one JSON object (format blt-sweep/1) instead of the table.")
    var json = false

    @Option(name: .long, help: "Also write the JSON object to this file (only when the run completes).")
    var output: String?

    @Option(name: .long, help: "Draw bits per byte against bytes per patch and against FLOPs per byte as an SVG file.")
    var svg: String?

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one input file ('-' for standard input)") }
        // Every setting reads the inputs again: standard input and pipes can be read only once.
        if inputs.contains("-") { throw ValidationError("blt sweep reads its inputs once per setting, so it takes files, not standard input ('-')") }
        if (thresholds == nil) == (patchSizes == nil) { throw ValidationError("give the settings to sweep: --thresholds T1,T2,… or --patch-sizes N1,N2,…") }
        if thresholds != nil, patchingOptions.threshold != nil { throw ValidationError("--threshold and --thresholds cannot be combined; list every threshold in --thresholds") }
        if patchSizes != nil, patchingOptions.patchSize != nil { throw ValidationError("--patch-size and --patch-sizes cannot be combined; list every size in --patch-sizes") }
        _ = try thresholdList()
        _ = try patchSizeList()
        if let svg, svg == output { throw ValidationError("--svg needs a file of its own") }
        if let output { _ = try OutputPath(output, protecting: protects) }
    }

    var protects: [(path: String, label: String)] {
        [(model, "the model directory")] + inputs.filter { $0 != "-" }.map { ($0, "the input") }
    }

    static let maxSettings = 1000

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    func thresholdList() throws -> [Float]? {
        guard let thresholds else { return nil }
        let values = thresholds.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !values.isEmpty, values.count <= Self.maxSettings else { throw ValidationError("--thresholds takes 1 to \(Self.maxSettings) values") }
        return try values.map { text in
            guard let value = Float(text), value.isFinite else {
                throw ValidationError("--thresholds: '\(text)' is not a finite number; give comma-separated thresholds in nats, e.g. 0.6,1.335,2")
            }
            return value
        }
    }

    func patchSizeList() throws -> [Int]? {
        guard let patchSizes else { return nil }
        let values = patchSizes.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !values.isEmpty, values.count <= Self.maxSettings else { throw ValidationError("--patch-sizes takes 1 to \(Self.maxSettings) values") }
        return try values.map { text in
            guard let value = Int(text), value >= 1, value <= BLTConfig.Limits.positions else {
                throw ValidationError("--patch-sizes: '\(text)' is not a whole number of ids between 1 and \(BLTConfig.Limits.positions)")
            }
            return value
        }
    }

    func run() throws {
        let reader = documents.reader(inputs)
        try reader.checkInputs()
        for input in inputs where !Self.isRegularFile(input) {
            throw CommandError("'\(input)' is not a regular file: blt sweep reads its inputs once per setting, and a pipe or device can be read only once; save it to a file first")
        }
        let outputPath = try output.map { try OutputPath($0, protecting: protects) }
        let svgFile = try svg.map { try OutputFile(path: $0, option: "--svg", inputs: inputs + [model]) }
        let loaded = try loadModel(model, precision: precision)
        let settings: [PatchingScheme]
        if let list = try thresholdList() {
            settings = try list.map { try patchingOptions.scheme(for: loaded, threshold: $0) }
        } else {
            settings = try (try patchSizeList() ?? []).map { try patchingOptions.scheme(for: loaded, patchSize: $0) }
        }
        let evaluator = try Evaluator(model: loaded, options: documents.evalOptions())
        let bar = ProgressBar(total: reader.totalInputBytes().map { $0 * settings.count }, unit: "B", label: "sweep")
        let total = reader.totalInputBytes() ?? 0
        let rows: [SweepRow]
        do {
            rows = try evaluator.sweep(reader, settings: settings, progress: { i, p in bar.update(i * total + p.inputBytesDone) })
        } catch {
            bar.finish()
            throw error
        }
        bar.finish()
        if rows.first?.summary.sums.documents == 0 {
            throw CommandError("nothing to score: the input holds no non-empty document")
        }
        if let svgFile {
            try svgFile.write(ScatterPlot.sweep(rows, modelName: loaded.name).svg())
            try svgFile.commit()
        }
        let object = JSONValue.object([("format", .string("blt-sweep/1")), ("model", .string(loaded.name)),
                                       ("rows", .array(rows.map(\.json)))])
        let data = Data(object.serialized(.report).utf8)
        try outputPath?.write(data)
        if json {
            try StandardStreams.write(data + Data("\n".utf8))
        } else {
            try printLine(Self.table(rows))
        }
        try StandardStreams.flush()
    }

    /// The human-readable table: one line per setting.
    static func table(_ rows: [SweepRow]) -> String {
        func cell(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }
        func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        let labelWidth = max(18, (rows.map(\.label.count).max() ?? 0) + 2)
        var lines = [cell("setting", labelWidth) + right("bits/byte", 10) + right("± s.e.", 9) + right("bytes/patch", 13)
                     + right("MFLOP/byte:", 13) + right("entropy", 10) + right("encoder", 10) + right("global", 10) + right("decoder", 10)
                     + right("total", 10) + right("seconds", 10)]
        for row in rows {
            let s = row.summary, f = row.flopsPerByte
            func mega(_ v: Double) -> String { String(format: "%.3f", v / 1e6) }
            lines.append(cell(row.label, labelWidth) + right(String(format: "%.4f", s.bitsPerByte), 10)
                         + right(s.bitsPerByteStandardError.map { String(format: "%.4f", $0) } ?? "n/a", 9)
                         + right(String(format: "%.2f", s.meanPatchBytes), 13) + right("", 13)
                         + right(mega(f.entropyModel), 10) + right(mega(f.localEncoder), 10) + right(mega(f.globalTransformer), 10)
                         + right(mega(f.localDecoder), 10) + right(mega(f.total), 10) + right(String(format: "%.2f", s.sums.seconds), 10))
        }
        return lines.joined(separator: "\n")
    }
}

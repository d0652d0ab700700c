import ArgumentParser
import ByteLatent
import ByteLatentPlots
import Safetensors
import Foundation

struct PatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patch",
        abstract: "Split text into the model's entropy patches.",
        discussion: """
        Encodes BOS + bytes + EOS (--no-eos drops the EOS), runs the entropy model and prints the \
        text with a '|' at every patch boundary, or with --json the ids, entropies (nats) and patch \
        lengths (transformers' convention: they sum to the number of ids; the BOS is patch 0), and \
        official_patch_lengths (the official code's with include_next_token, as its model runs: they \
        cover one more slot) and official_patch_lengths_no_next_token (Patcher.patch's default). \
        --patching picks the rule (entropy, monotonic, entropy+monotonic, topk, space, static; see \
        Docs/patching.md).

        --svg FILE also draws the picture from the BLT paper: the entropy before every byte, the \
        threshold, and the patches, with the bytes along the x axis, wrapped onto rows of \
        --bytes-per-row bytes, for texts of up to 256 KiB (see Docs/visualize.md). A text longer \
        than the entropy model's positions is run in windows (see Docs/patching.md), so memory \
        stays that of one window. FILE is replaced only once it is complete; \
        '--svg -' writes the SVG to standard output instead of the text.

        Examples:
          blt patch --model Models/blt-tiny --text "Hello, world"
          blt patch --model Models/blt-tiny --svg sample.svg Models/sample.txt
        """)

    @Option(name: .long, help: "Model directory (config.json + model.safetensors).")
    var model: String

    @Option(name: .long, help: "Text to patch (instead of FILE).")
    var text: String?

    @Argument(help: "File to patch ('-' for standard input).")
    var file: String?

    @Flag(name: .customLong("no-eos"), help: "Do not append the EOS id.")
    var noEOS = false

    @OptionGroup var patchingOptions: PatchingOptions

    @Flag(name: .long, help: "Print a JSON object instead of text.")
    var json = false

    @Option(name: .long, help: "Also write the entropy plot as a self-contained SVG file ('-': to standard output, instead of the text).")
    var svg: String?

    @Option(name: .customLong("bytes-per-row"), parsing: .unconditional, help: "Bytes per row of the SVG plot; longer texts wrap onto more rows.")
    var bytesPerRow = 64

    static let maxPlotBytes = 256 << 10

    func validate() throws {
        if (text == nil) == (file == nil) { throw ValidationError("give either FILE or --text STRING") }
        if svg == "-", json { throw ValidationError("--svg - writes the SVG to standard output; it cannot be combined with --json") }
        if bytesPerRow < PlotLayout.minimumBytesPerRow || bytesPerRow > 100_000 {
            throw ValidationError("--bytes-per-row must be between \(PlotLayout.minimumBytesPerRow) and 100000")
        }
    }

    func run() throws {
        let bytes = try text.map { RawArguments.value(of: "--text") ?? Array($0.utf8) } ?? readInput(file!)
        // About 350 bytes of SVG per byte of text: beyond this the picture is hundreds of MB that
        // no viewer opens.
        if svg != nil, bytes.count > Self.maxPlotBytes {
            throw CommandError("--svg draws at most \(Self.maxPlotBytes) bytes of text (this one has \(bytes.count)); plot a slice, e.g. head -c \(Self.maxPlotBytes) FILE | blt patch --svg … -")
        }
        let svgFile = try svg.flatMap { $0 == "-" ? nil : try OutputFile(path: $0, option: "--svg", inputs: file.map { [$0, self.model] } ?? [self.model]) }
        let model = try loadModel(self.model, readAhead: false)   // the entropy model only
        let scheme = try patchingOptions.scheme(for: model)
        let ids = Tokenizer.encode(bytes, addEOS: !noEOS)
        let entropies = try model.entropies(ids, context: scheme.entropyContext)
        let lengths = try scheme.patchLengths(ids: ids, entropies: entropies)
        if svg != nil {
            let drawing = try PatchPlot.entropy(ids: ids, entropies: entropies, patchLengths: lengths, scheme: scheme,
                                                modelName: model.name).svg(layout: PlotLayout(bytesPerRow: bytesPerRow))
            guard let svgFile else {
                try StandardStreams.write(drawing)
                try StandardStreams.flush()
                return
            }
            try svgFile.write(drawing)
            try svgFile.commit()
        }
        if json {
            try printJSON([
                ("ids", .array(ids.map { .int(Int($0)) })), ("entropies", .array(entropies.map { .double(Double($0)) })),
                ("patch_lengths", .array(lengths.map { .int($0) })),
                ("official_patch_lengths", .array(try scheme.officialPatchLengths(ids: ids, entropies: entropies, includeNextToken: true).map { .int($0) })),
                ("official_patch_lengths_no_next_token",
                 .array(try scheme.officialPatchLengths(ids: ids, entropies: entropies, includeNextToken: false).map { .int($0) })),
                ("patching", .string(scheme.identifier)),
                ("threshold", .double(Double(scheme.threshold))),
                ("patches", .int(lengths.filter { $0 > 0 }.count)), ("bytes", .int(bytes.count)),
            ])
        } else {
            var pieces: [String] = []
            var start = 0
            for length in lengths where length > 0 {
                pieces.append(display(ids[start ..< start + length]))
                start += length
            }
            try printLine(pieces.joined(separator: "|"))
            try StandardStreams.flush()
            let patches = lengths.filter { $0 > 0 }.count
            StandardStreams.error("\(ids.count) ids, \(patches) patches, \(String(format: "%.2f", Double(ids.count) / Double(max(patches, 1)))) ids per patch\n")
        }
    }
}

/// Patch text for the terminal: BOS/EOS shown as <s>/</s>, newlines and tabs escaped.
func display(_ ids: ArraySlice<Int32>) -> String {
    var text = ""
    var bytes: [UInt8] = []
    func flush() { text += String(decoding: bytes, as: UTF8.self); bytes.removeAll() }
    for id in ids {
        switch id {
        case Tokenizer.bosID: flush(); text += "<s>"
        case Tokenizer.eosID: flush(); text += "</s>"
        case ..<Tokenizer.offset: flush(); text += "<\(id)>"
        default: bytes.append(UInt8(id - Tokenizer.offset))
        }
    }
    flush()
    return text.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
}

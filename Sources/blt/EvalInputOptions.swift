import ArgumentParser
import ByteLatent
import ByteLatentEval

/// How `blt eval` and `blt sweep` read and cut their documents: one set of options, one meaning.
/// Numbers are parsed unconditionally, so a negative one reaches the checks below and is named.
struct EvalInputOptions: ParsableArguments {
    @Option(name: .long, help: "How to read the inputs: text (one document per file) or jsonl (default: jsonl for *.jsonl, else text).")
    var format: String?

    @Option(name: .long, help: "JSONL field holding the document text.")
    var field = "text"

    @Flag(name: .customLong("skip-bad-lines"), help: "Skip malformed JSONL lines (counted, and named on stderr) instead of stopping at the first.")
    var skipBadLines = false

    @Option(name: .customLong("max-document-bytes"), parsing: .unconditional,
            help: "Most bytes one document (a text input or a JSONL line) may hold; a larger one is an error (a bad line for JSONL). Bounds memory for endless or runaway inputs.")
    var maxDocumentBytes = DocumentReader.defaultMaxDocumentBytes

    @Flag(name: .customLong("no-eos"), help: "Do not append (and score) the EOS id.")
    var noEOS = false

    @Option(name: .long, parsing: .unconditional, help: "Ids per forward pass, BOS included (default: min(8192, the entropy model's and local models' max positions)).")
    var window: Int?

    @Option(name: .long, parsing: .unconditional, help: "Bytes of history kept before the first scored byte of each later window (0: non-overlapping windows).")
    var context = 0

    @Option(name: .customLong("batch-bytes"), parsing: .unconditional, help: "Ids per packed forward pass: consecutive documents/windows run together, each exactly as alone (0: one pass per window).")
    var batchBytes = Evaluator.defaultBatchBytes

    @Option(name: .customLong("chunk-targets"), parsing: .unconditional, help: "Targets per chunk for the standard error of a single document.")
    var chunkTargets = 1024

    func validate() throws {
        if let format, DocumentFormat(rawValue: format) == nil { throw ValidationError("--format must be text or jsonl") }
        if maxDocumentBytes < 1 { throw ValidationError("--max-document-bytes must be at least 1") }
        if context < 0 { throw ValidationError("--context must be 0 or more") }
        if batchBytes < 0 { throw ValidationError("--batch-bytes must be 0 or more (0: one forward pass per window)") }
        if chunkTargets < 1 { throw ValidationError("--chunk-targets must be at least 1") }
    }

    func reader(_ inputs: [String]) -> DocumentReader {
        DocumentReader(inputs: inputs.map { DocumentInput(path: $0, format: format.flatMap(DocumentFormat.init(rawValue:))) },
                       field: field, skipBadLines: skipBadLines, maxDocumentBytes: maxDocumentBytes)
    }

    func evalOptions(patching: PatchingScheme? = nil, keepPerDocument: Bool = false) -> EvalOptions {
        EvalOptions(window: window, context: context, patching: patching, addEOS: !noEOS, chunkTargets: chunkTargets,
                    keepPerDocument: keepPerDocument, batchBytes: batchBytes)
    }
}

import ArgumentParser
import ByteLatent
import ByteLatentPlots
import ByteLatentEval
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Score lm-evaluation-harness requests sent as JSON lines (the model loads once).",
        discussion: """
        With --stdio, reads one JSON request per line on standard input and writes one JSON \
        response per line on standard output, in order, until standard input ends. Requests \
        (all byte-level, natural-log likelihoods, BOS first, no EOS):
          {"type": "loglikelihood", "context": "Q: 2+2=", "continuation": " 4"}
              -> {"loglikelihood": -3.21, "is_greedy": false}
          {"type": "loglikelihood_rolling", "text": "A whole document."}
              -> {"loglikelihood": -40.1, "bytes": 17, "windows": 1}
          {"type": "generate_until", "context": "Q: hi\\nA:", "until": ["\\n"], "max_bytes": 64}
              -> {"text": " hello"}
        A bad request gets {"error": "..."} and the service goes on with the next line. An optional \
        "id" field is echoed back. loglikelihood_rolling is windowed exactly like \
        `blt eval --no-eos` with the same --window and --context, so bits per byte agree. \
        Integrations/lm-eval/blt_lm_eval.py drives this from lm-eval (see Docs/lm-eval.md).

        Example: printf '{"type":"loglikelihood","context":"The ","continuation":"cat"}\\n' | blt serve --stdio --model Models/blt-tiny
        """)

    @Option(name: .long, help: "Model directory (config.json + model.safetensors).")
    var model: String

    @Flag(name: .long, help: "Serve over standard input/output (the only transport so far).")
    var stdio = false

    @Option(name: .long, parsing: .unconditional, help: "Ids per forward pass for loglikelihood_rolling, BOS included (default: as blt eval).")
    var window: Int?

    @Option(name: .long, parsing: .unconditional, help: "Bytes of history kept before each later rolling window (0: non-overlapping), as blt eval.")
    var context = 0

    @Option(name: .customLong("max-request-bytes"), parsing: .unconditional,
            help: "Most bytes one request line may hold; a longer line gets an error response and is skipped without being kept in memory.")
    var maxRequestBytes = DocumentReader.defaultMaxDocumentBytes

    @OptionGroup var patchingOptions: PatchingOptions

    func validate() throws {
        if maxRequestBytes < 1 { throw ValidationError("--max-request-bytes must be at least 1") }
        if !stdio { throw ValidationError("pass --stdio (JSON lines on standard input/output; the only transport so far)") }
        if context < 0 { throw ValidationError("--context must be 0 or more") }
    }

    func run() throws {
        let configured: BLTModel
        do { configured = try BLTModel(directory: model) } catch { throw ModelLoadError(path: model, underlying: error) }
        let loaded = configured.with(patching: try patchingOptions.scheme(for: configured))
        let scorer: RequestScorer
        do { scorer = try RequestScorer(model: loaded, window: window, context: context) } catch { throw FlagWording.message(for: error).map(CommandError.init) ?? CommandError("\(error)") }
        StandardStreams.error("blt serve: model \(model) loaded; reading JSON requests on standard input\n")
        var reader = LineReader(limit: maxRequestBytes)
        while let next = try reader.next() {
            guard case .line(let line) = next else {
                try respond("{\"error\":\"the request line is longer than \(maxRequestBytes) bytes (serve's --max-request-bytes); it was skipped\"}")
                continue
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }   // blank lines get no response
            let parsed = ServeProtocol.parse(line)
            let result: Result<ScoringResult, ScoringError>
            switch parsed.request {
            case .success(let request): result = scorer.score([request])[0]
            case .failure(let error): result = .failure(error)
            }
            try respond(ServeProtocol.response(result, id: parsed.id))
        }
    }

    /// Each response as soon as it is ready (the harness waits for it); a full disk or a gone
    /// reader is an error, not a crash.
    private func respond(_ line: String) throws {
        try StandardStreams.write(line + "\n")
        try StandardStreams.flush()
    }
}

/// Raw lines of standard input (bytes, so invalid UTF-8 is reported rather than replaced), each
/// at most `limit` bytes: a longer line is read to its end without being kept, so an endless line
/// (`/dev/zero`) costs no memory and the next request still gets its answer.
struct LineReader {
    enum Line: Equatable {
        case line([UInt8])
        /// A line over the limit, read to its end and dropped.
        case tooLong(limit: Int)
    }

    let limit: Int
    private var pending: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    /// The next line, nil at the end of input; a read error (standard input a directory, an I/O
    /// error) is thrown, not taken for the end.
    mutating func next() throws -> Line? {
        pending.removeAll(keepingCapacity: pending.count <= 1 << 20)
        var overflowed = false
        var sawByte = false
        flockfile(stdin)
        defer { funlockfile(stdin) }
        while true {
            let c = getc_unlocked(stdin)
            if c == EOF {
                if ferror(stdin) != 0 {
                    throw CommandError("cannot read requests from standard input: \(String(cString: strerror(errno)))")
                }
                if !sawByte { return nil }
                break
            }
            sawByte = true
            if c == 0x0A { break }
            if overflowed { continue }
            if pending.count == limit { overflowed = true; pending.removeAll(); continue }
            pending.append(UInt8(truncatingIfNeeded: c))
        }
        return overflowed ? .tooLong(limit: limit) : .line(pending)
    }
}

import ArgumentParser
import ByteLatentConvert
import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif

/// `blt convert SRC DST`: facebook/blt-1b hub layout → transformers BLT layout.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a facebook/blt-1b (hub layout) checkpoint into the Hugging Face transformers BLT layout.",
        discussion: """
        SRC holds config.json ({"args": ...}), model.safetensors, train_args.json (optional) and entropy_model/ \
        (params.json + consolidated.pth, or config.json + model.safetensors).

        DST receives config.json, model.safetensors (sharded with an index above --max-shard-size), tokenizer.json \
        and tokenizer_config.json. Nothing is written unless everything validates; a failure, Ctrl-C, SIGTERM or \
        SIGHUP leaves no partial output. DST may not be, contain or lie inside SRC.
        """
    )

    @Argument(help: "Source checkpoint directory (hub layout).")
    var source: String

    @Argument(help: "Destination directory.")
    var destination: String

    @Option(help: "Output dtype: bf16, f16 or f32 (default: keep the source dtype).")
    var dtype: String?

    @Flag(help: "Replace DST if it is an earlier `blt convert` output or an empty directory (anything else is refused).")
    var force = false

    @Option(help: "Largest model.safetensors shard, e.g. 4GB, 500MB, 123456 (bytes).")
    var maxShardSize: String = "4GB"

    func run() throws {
        var options = ConvertOptions(force: force, notice: { StandardStreams.error("note: \($0)\n") })
        if let dtype {
            switch dtype.lowercased() {
            case "bf16", "bfloat16": options.dtype = .bf16
            case "f16", "fp16", "float16": options.dtype = .f16
            case "f32", "fp32", "float32": options.dtype = .f32
            default: throw ValidationError("--dtype must be bf16, f16 or f32, not \(dtype)")
            }
        }
        guard let shard = parseByteSize(maxShardSize), shard > 0 else {
            throw ValidationError("--max-shard-size must be a size like 4GB, 500MB or a byte count, not \(maxShardSize)")
        }
        options.maxShardBytes = shard
        installInterruptHandler()
        var bar: ProgressBar?
        let start = Date()
        do {
            let plan = try Converter.convert(source: source, destination: destination, options: options) { done, total, name in
                if bar == nil { bar = ProgressBar(total: total, unit: "B", label: "convert") }
                bar?.update(done, force: done == total)
            }
            bar?.finish()
            let secs = Date().timeIntervalSince(start)
            print("wrote \(destination): \(plan.tensors.count) tensors, \(plan.parameterCount) parameters, "
                  + "\(formatBytes(plan.totalBytes)) in \(String(format: "%.1f", secs)) s")
        } catch let e as ConvertError {
            bar?.finish()
            StandardStreams.error("error: \(FlagWording.message(for: e) ?? e.description)\n")
            throw ExitCode(e == .interrupted ? 128 + interruptSignal : 1)
        }
    }
}

func parseByteSize(_ s: String) -> Int? {
    let t = s.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [(String, Double)] = [("GIB", 1_073_741_824), ("MIB", 1_048_576), ("KIB", 1024), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("G", 1e9), ("M", 1e6), ("K", 1e3), ("B", 1)]
    for (u, m) in units where t.hasSuffix(u) {
        guard let v = Double(t.dropLast(u.count).trimmingCharacters(in: .whitespaces)), v > 0,
              v * m < 0x1p62 else { return nil }   // finite and far inside Int (Int(_: Double) traps beyond it)
        return Int(v * m)
    }
    return Int(t)
}

func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(format: "%.2f GB", d / 1e9) }
    if d >= 1e6 { return String(format: "%.1f MB", d / 1e6) }
    if d >= 1e3 { return String(format: "%.1f kB", d / 1e3) }
    return "\(n) B"
}

import ByteLatent
import ByteLatentEval
import Foundation
import FuzzSupport

/// eval-merge inputs: the input is split at NUL bytes into up to four shard files; each is decoded
/// and checked as `blt eval-merge` does, then merged (partial merges allowed) and re-encoded.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    let input = inputBuffer(data, size)
    let pieces = input.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false)
    var parts: [EvalSummary] = []
    for piece in pieces {
        guard let part = try? EvalSummary.load(Data(piece), source: "shard.json") else { return 0 }
        parts.append(part)
    }
    guard let merged = try? EvalSummary.merge(parts, allowPartial: true) else { return 0 }
    // A merge that was accepted must be writable: an encoding failure here would lose a user's result.
    guard let data = try? merged.jsonData() else { fatalError("accepted merge cannot be encoded") }
    _ = data.count
    _ = merged.bitsPerByteStandardError
    return 0
}

@_cdecl("FuzzEvalMerge_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

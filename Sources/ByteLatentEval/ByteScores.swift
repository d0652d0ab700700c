import ByteLatent
import Safetensors
import Foundation
import JSONSupport

/// One document scored target by target: what the main model and the entropy model each made of
/// every byte, and where patches started. Targets are the document's ids after the BOS (its bytes,
/// then the EOS when it is scored); `ids[i]` is target i + 1.
public struct ByteScores: Sendable {
    /// The target ids: byte + 4 for each byte, then `Tokenizer.eosID` when the EOS is scored.
    public var ids: [Int32]
    /// −log₂ p(target | everything before it) under the main model.
    public var surprisalBits: [Double]
    /// The entropy model's entropy (nats) of its next-byte distribution just before the target: the
    /// value patching compares with the threshold.
    public var entropyNats: [Float]
    /// True where a patch starts at the target (in the forward pass that scored it).
    public var patchStarts: [Bool]
    /// The document's totals, exactly as `Evaluator.score` reports them.
    public var score: DocumentScore

    /// The byte of target i, or nil for the EOS.
    public func byte(_ i: Int) -> UInt8? { Tokenizer.byte(of: ids[i]) }

    /// Σ surprisal in bits, summed target by target in order.
    public var nllBits: Double { surprisalBits.reduce(0, +) }
}

extension Evaluator {
    /// Scores one document (BOS + bytes [+ EOS]) and keeps every target's surprisal, entropy and
    /// patch start. It runs the passes of `score(bytes:name:)` (the one pass planner), so its totals,
    /// returned in `score`, are that function's bit for bit.
    public func byteScores(bytes: [UInt8], name: String = "document") throws -> ByteScores {
        let (work, score) = try scored([bytes], names: [name], keepDetails: true)[0]
        return Self.byteScores(of: work, score: score)
    }

    /// The per-target details of a finished document kept with `keepDetails`.
    static func byteScores(of work: DocumentWork, score: DocumentScore) -> ByteScores {
        ByteScores(ids: Array(work.ids.dropFirst()), surprisalBits: work.values.map { $0 / M_LN2 },
                   entropyNats: work.entropies ?? [], patchStarts: work.patchStarts ?? [], score: score)
    }
}

extension ByteScores {
    /// One JSON object (one line of `blt eval --per-byte`): the document's name, number and totals,
    /// then one array entry per target: `ids`, `bytes` (null for the EOS), `surprisal_bits`,
    /// `entropy_nats` and `patch_start`. Numbers are written in their shortest exact form.
    public func jsonLine(document name: String, index: Int) -> String {
        var line = "{\"document\":" + Self.quoted(name) + ",\"index\":\(index),\"bytes_scored\":\(score.bytes)"
        line += ",\"targets\":\(score.targets),\"patches\":\(score.patches),\"windows\":\(score.windows)"
        line += ",\"nll_bits\":\(Self.number(nllBits)),\"bits_per_byte\":\(Self.number(score.bitsPerByte))"
        line += ",\"ids\":[" + ids.map { String($0) }.joined(separator: ",") + "]"
        line += ",\"bytes\":[" + ids.indices.map { byte($0).map { String($0) } ?? "null" }.joined(separator: ",") + "]"
        line += ",\"surprisal_bits\":[" + surprisalBits.map(Self.number).joined(separator: ",") + "]"
        line += ",\"entropy_nats\":[" + entropyNats.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ",") + "]"
        line += ",\"patch_start\":[" + patchStarts.map { $0 ? "true" : "false" }.joined(separator: ",") + "]}"
        return line
    }

    /// Swift's shortest round-trip form ("0.5", "1e-07"); JSON has no NaN or infinity, so null.
    static func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }

    /// The one JSON string quoting (Safetensors' `jsonQuoted`).
    static func quoted(_ text: String) -> String { jsonQuoted(text) }
}

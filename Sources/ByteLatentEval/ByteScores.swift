import ByteLatent
import Safetensors
import Foundation

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
    public func byte(_ i: Int) -> UInt8? { ByteGlyphs.byteValue(ids[i]) }

    /// Σ surprisal in bits, summed target by target in order.
    public var nllBits: Double { surprisalBits.reduce(0, +) }
}

extension Evaluator {
    /// Scores one document (BOS + bytes [+ EOS]) and keeps every target's surprisal, entropy and
    /// patch start. The windows, patches and logits are those of `score(bytes:name:)`; its totals
    /// are returned in `score`.
    public func byteScores(bytes: [UInt8], name: String = "document") throws -> ByteScores {
        try byteScores(ids: Tokenizer.encode(bytes, addEOS: options.addEOS), bytes: bytes.count, name: name, progress: nil)
    }

    func byteScores(ids: [Int32], bytes: Int, name: String, progress: ((Int) -> Void)?) throws -> ByteScores {
        let plan = try WindowPlan.plan(count: ids.count, window: window, context: options.context)
        let targets = max(0, ids.count - 1)
        var nats: [Double] = []
        var entropies: [Float] = []
        var starts: [Bool] = []
        nats.reserveCapacity(targets)
        entropies.reserveCapacity(targets)
        starts.reserveCapacity(targets)
        var patches = 0
        for w in plan {
            let windowIDs = w.ids(from: ids)
            let entropy = try model.entropies(windowIDs)
            let lengths = model.patchLengths(entropies: entropy, threshold: options.threshold)
            let logits = try model.logits(windowIDs, patchLengths: lengths)
            let first = w.position(ofDocumentID: w.scored.lowerBound)
            nats += Scoring.targetNLLs(logits: logits, ids: windowIDs, from: first - 1, width: model.vocabularySize)
            var startsHere = [Bool](repeating: false, count: windowIDs.count)
            var position = 0
            for length in lengths {
                if length > 0, position >= 1 { startsHere[position] = true }
                position += length
            }
            for p in first ..< windowIDs.count {
                entropies.append(entropy[p - 1])
                starts.append(startsHere[p])
                if startsHere[p] { patches += 1 }
            }
            progress?(w.scored.upperBound)
        }
        let nll = nats.reduce(0, +)
        guard nll.isFinite, abs(nll) < ExactSum.limit else { throw EvalError.nonFiniteLoss(document: name) }
        var chunks: [(bits: Double, targets: Int)] = []
        var start = 0
        while start < nats.count {
            let end = min(nats.count, start + options.chunkTargets)
            chunks.append((bits: nats[start..<end].reduce(0, +) / M_LN2, targets: end - start))
            start = end
        }
        let score = DocumentScore(nllNats: nll, targets: nats.count, bytes: bytes, patches: patches, windows: plan.count, chunks: chunks)
        return ByteScores(ids: Array(ids.dropFirst()), surprisalBits: nats.map { $0 / M_LN2 }, entropyNats: entropies,
                          patchStarts: starts, score: score)
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

import Foundation

/// Entropy patching: where the entropy model is unsure of the next byte, a new patch begins.
public enum Patching {
    /// Patch lengths as transformers computes them in forward (`PatchingScheme.patchLengths` with
    /// the entropy rule): they cover the `count` ids, and when H[count−1] > threshold a zero-length
    /// trailing patch marks the boundary after the last byte (the decoder then reads the
    /// just-completed patch). With `maxPatchLength`, long patches are split into max, max, …,
    /// remainder and empty patches are dropped, as transformers does.
    public static func patchLengths(entropies: [Float], threshold: Float, maxPatchLength: Int? = nil) -> [Int] {
        let scheme = PatchingScheme(unchecked: .entropy, threshold: threshold, maxPatchLength: maxPatchLength)
        return (try? scheme.patchLengths(count: entropies.count, ids: nil, entropies: entropies)) ?? []
    }

    /// The official facebookresearch/blt rule (`Patcher.patch`, threshold mode): with
    /// `includeNextToken` the lengths sum to count + 1 (the last patch covers the unseen next slot).
    public static func officialPatchLengths(entropies: [Float], threshold: Float, includeNextToken: Bool) -> [Int] {
        let scheme = PatchingScheme(unchecked: .entropy, threshold: threshold, maxPatchLength: nil)
        return (try? scheme.officialPatchLengths(count: entropies.count, ids: nil, entropies: entropies,
                                                 includeNextToken: includeNextToken)) ?? []
    }

    /// Index of the patch holding each of `count` positions (−1 if none).
    public static func patchIDs(lengths: some Collection<Int>, count: Int) -> [Int] {
        var ids = [Int](repeating: -1, count: count)
        var position = 0
        for (patch, length) in lengths.enumerated() {
            for t in position ..< min(count, position + length) { ids[t] = patch }
            position += length
        }
        // transformers counts starts ≤ t, so positions past the last patch belong to it.
        if position < count, !lengths.isEmpty { for t in position..<count { ids[t] = lengths.count - 1 } }
        return ids
    }

    /// The global patch each byte's decoder cross-attention reads: patch ids over lengths[1...]
    /// (dec_id[t] = patch(t + 1) − 1), i.e. the last patch completed before byte t + 1.
    public static func decoderPatchIDs(lengths: [Int], count: Int) -> [Int] {
        patchIDs(lengths: lengths.dropFirst(), count: count)
    }

    /// Byte range of each patch.
    static func ranges(lengths: [Int]) -> [Range<Int>] {
        var start = 0
        return lengths.map { length in
            defer { start += length }
            return start ..< start + length
        }
    }
}

extension Patching {
    /// Entropy in nats of softmax(logits) for each row of [rows, width] logits: −Σ p log p
    /// (`BLTModel.entropies` and `InferenceContext.entropies` run the entropy model first).
    public static func entropies(logits: [Float], width: Int) -> [Float] {
        let rows = width == 0 ? 0 : logits.count / width
        return logits.withUnsafeBufferPointer { entropies(logits: $0.baseAddress, rows: rows, width: width) }
    }

    static func entropies(logits: UnsafePointer<Float>?, rows: Int, width: Int) -> [Float] {
        (0..<rows).map { r in
            let row = logits! + r * width
            var maximum = -Float.infinity
            for v in 0..<width { maximum = max(maximum, row[v]) }
            var sum = 0.0
            for v in 0..<width { sum += exp(Double(row[v] - maximum)) }
            let logSum = log(sum)
            var entropy = 0.0
            for v in 0..<width {
                let logP = Double(row[v] - maximum) - logSum
                entropy -= exp(logP) * logP
            }
            return Float(entropy)
        }
    }
}
